# frozen_string_literal: true

# Builds PolyRPC::Native (polyrpc/polyrpc_native.so) from the SWIG-generated wrapper that the
# gem ships (polyrpc_native_wrap.c, made from bindings/swig/polyrpc.i at `gem build` time, so
# installing needs no SWIG), which includes the hand-written polyrpc_ruby.c. libpolyrpc is
# found with pkg-config (polyrpc.pc; set PKG_CONFIG_PATH for a prefix of your own, e.g. the
# one `cmake --install build --prefix DIR --component polyrpc` made).
require "mkmf"

unless File.exist?(File.join(__dir__, "polyrpc_native_wrap.c"))
  abort "polyrpc_native_wrap.c is missing: build the gem with `rake gem` (it runs SWIG), " \
        "not from a bare checkout"
end

pkg = ENV.fetch("POLYRPC_PKG_CONFIG_NAME", "polyrpc")
unless pkg_config(pkg)
  abort <<~MSG
    libpolyrpc not found by pkg-config (#{pkg}.pc). Install libpolyrpc, or point
    PKG_CONFIG_PATH at DIR/lib/pkgconfig of `cmake --install build --prefix DIR --component polyrpc`.
  MSG
end
abort "polyrpc/polyrpc.h not found (pkg-config --cflags #{pkg})" unless have_header("polyrpc/polyrpc.h")
unless have_func("polyrpc_server_request_call_v2", "polyrpc/polyrpc.h")
  abort "libpolyrpc is older than 0.2 (polyrpc_server_request_call_v2 missing)"
end

# The extension finds the library where pkg-config found it, wherever Ruby runs from.
libdir = `pkg-config --variable=libdir #{pkg}`.strip
system_dirs = %w[/usr/lib /usr/lib64 /lib /lib64] + Dir["/usr/lib/*-linux-gnu"]
$LDFLAGS << " -Wl,-rpath,#{libdir}" unless libdir.empty? || system_dirs.include?(libdir)

# Only the wrapper is compiled: it includes polyrpc_ruby.c (which uses SWIG's type table).
$srcs = ["polyrpc_native_wrap.c"]
$objs = ["polyrpc_native_wrap.o"]
# Generated code: SWIG's own warnings are not ours to fix.
$warnflags = "-Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare"
$CFLAGS << " -fvisibility=hidden"
create_makefile("polyrpc/polyrpc_native")
