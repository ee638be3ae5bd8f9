#!/usr/bin/env bash
# Builds the polyrpc gem and installs it into the build tree, where the Ruby tests, the
# conformance programs and the benchmarks load it from:
#   1. libpolyrpc (headers, libpolyrpc.so.1, polyrpc.pc) installed into $BUILD/ruby/prefix
#      (cmake --install --component polyrpc), as a user's machine would have it;
#   2. the gem built from a copy of bindings/ruby (rake gem: SWIG generates the wrapper the gem
#      ships), so `gem build` never writes into the source tree;
#   3. `gem install --local` into $BUILD/ruby/gems, the extension compiled by extconf.rb
#      against the prefix through pkg-config;
#   4. $BUILD/ruby/bin/ruby: Ruby with GEM_HOME/GEM_PATH set to that folder plus Debian's own
#      gem folders (google-protobuf, grpc, minitest), and none where `gem install` or a user
#      would have put gems, so nothing an earlier run left on the machine is seen.
# Usage: scripts/install-ruby.sh (after scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
RUBY_BUILD=$BUILD/ruby
PREFIX=$RUBY_BUILD/prefix
GEMS=$RUBY_BUILD/gems
STAGE=$RUBY_BUILD/gem-src
RUBY=${RUBY:-$(command -v ruby)}

# A build that fails must not leave the previous gem behind for the tests to load.
rm -rf "$PREFIX" "$STAGE" "$GEMS" "$RUBY_BUILD/bin"
mkdir -p "$PREFIX" "$STAGE" "$GEMS" "$RUBY_BUILD/bin"
cmake --install "$BUILD" --prefix "$PREFIX" --component polyrpc >"$RUBY_BUILD/install.log"

cp -R bindings/ruby/polyrpc.gemspec bindings/ruby/Rakefile bindings/ruby/lib "$STAGE/"
mkdir -p "$STAGE/ext/polyrpc_native"
cp bindings/ruby/ext/polyrpc_native/extconf.rb bindings/ruby/ext/polyrpc_native/polyrpc_ruby.c \
   "$STAGE/ext/polyrpc_native/"
POLYRPC_SOURCE_DIR=$POLYRPC_ROOT "$RUBY" -S rake -f "$STAGE/Rakefile" gem >"$RUBY_BUILD/gem-build.log" 2>&1 ||
  { cat "$RUBY_BUILD/gem-build.log"; exit 1; }
gem_file=$(ls "$STAGE"/pkg/polyrpc-*.gem)

# Debian's gem folders (where ruby-google-protobuf, ruby-grpc, ruby-minitest live), without the
# user's and the system's `gem install` targets.
SYS_GEM_PATH=$("$RUBY" -e '
  skip = [Gem.user_dir, Gem.default_dir, "/usr/local"]
  puts Gem.default_path.reject { |d| skip.any? { |s| d.start_with?(s) } }.join(":")')
export GEM_HOME=$GEMS GEM_PATH=$GEMS:$SYS_GEM_PATH PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
unset RUBYOPT RUBYLIB
tools/locked gem install --local --no-document --ignore-dependencies --install-dir "$GEMS" "$gem_file" \
  >"$RUBY_BUILD/gem-install.log" 2>&1 || {
  cat "$RUBY_BUILD/gem-install.log"
  find "$GEMS" -name mkmf.log -exec cat {} + 2>/dev/null || true
  exit 1
}

cat >"$RUBY_BUILD/bin/ruby" <<SH
#!/bin/sh
# Ruby with the polyrpc gem of this build tree (made by scripts/install-ruby.sh).
export GEM_HOME='$GEMS' GEM_PATH='$GEMS:$SYS_GEM_PATH'
unset RUBYOPT RUBYLIB
exec '$RUBY' "\$@"
SH
chmod +x "$RUBY_BUILD/bin/ruby"
# The installed gem loads from the gem folder and finds the prefix's library, from anywhere;
# its dependency (google-protobuf, left to Debian: --ignore-dependencies) loads too.
(cd / && "$RUBY_BUILD/bin/ruby" -e '
  require "polyrpc"
  require "google/protobuf"
  dir = Gem.loaded_specs["polyrpc"].full_gem_path
  abort "polyrpc loaded from #{dir}, not from #{ARGV[0]}" unless dir.start_with?(ARGV[0])
  so = $LOADED_FEATURES.grep(/polyrpc_native\.so\z/).first
  lib = File.read("/proc/self/maps")[%r{\S*/libpolyrpc\.so[.0-9]*}]
  abort "libpolyrpc loaded from #{lib}, not from #{ARGV[1]}" unless lib&.start_with?(ARGV[1])
  puts "install-ruby: polyrpc #{PolyRPC::VERSION} (libpolyrpc #{PolyRPC.library_version}) " \
       "from #{dir}, extension #{so}, library #{lib}"' "$GEMS" "$PREFIX")
