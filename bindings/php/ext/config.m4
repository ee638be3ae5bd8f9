dnl config.m4 - the phpize build of the polyrpc PHP extension (extension=polyrpc.so).
dnl
dnl   phpize && ./configure [--with-polyrpc-swig=DIR] && make && make install
dnl
dnl libpolyrpc is found with pkg-config (polyrpc.pc, installed by
dnl `cmake --install BUILD --prefix P --component polyrpc`; set PKG_CONFIG_PATH=P/lib/pkgconfig
dnl for a prefix pkg-config does not search). The extension is SWIG's PHP wrapper of the C ABI
dnl (bindings/swig/polyrpc.i, C++) with the hand-written polyrpc_php.c included into it. A
dnl source folder that already holds polyrpc_wrap.cxx (a release tarball) needs no SWIG;
dnl otherwise configure generates it from polyrpc.i (--with-polyrpc-swig: the folder holding
dnl polyrpc.i, default ../../swig) and the headers pkg-config names. bindings/php/build.sh runs
dnl all of this in a copy of this folder under the build tree.

PHP_ARG_WITH([polyrpc],
  [for polyrpc support],
  [AS_HELP_STRING([--with-polyrpc], [Include polyrpc support (libpolyrpc found with pkg-config)])],
  [yes])

PHP_ARG_WITH([polyrpc-swig],
  [for the polyrpc SWIG interface],
  [AS_HELP_STRING([--with-polyrpc-swig=DIR], [Folder of polyrpc.i (default: ../../swig)])],
  [no], [no])

if test "$PHP_POLYRPC" != "no"; then
  PKG_CHECK_MODULES([POLYRPC], [polyrpc >= 0.2], [],
    [AC_MSG_ERROR([libpolyrpc not found by pkg-config: install it (cmake --install BUILD --prefix P --component polyrpc) and set PKG_CONFIG_PATH=P/lib/pkgconfig])])
  PHP_EVAL_INCLINE($POLYRPC_CFLAGS)
  PHP_EVAL_LIBLINE($POLYRPC_LIBS, POLYRPC_SHARED_LIBADD)
  dnl The extension finds libpolyrpc.so.1 where pkg-config found it, wherever that is.
  POLYRPC_LIBDIR=`$PKG_CONFIG --variable=libdir polyrpc`
  PHP_ADD_LIBRARY_WITH_PATH([polyrpc], [$POLYRPC_LIBDIR], POLYRPC_SHARED_LIBADD)

  if test ! -f "$ext_srcdir/polyrpc_wrap.cxx"; then
    AC_PATH_PROGS([SWIG], [swig4.0 swig])
    if test -z "$SWIG"; then
      AC_MSG_ERROR([swig not found (apt install swig), and no generated polyrpc_wrap.cxx here])
    fi
    if test "$PHP_POLYRPC_SWIG" = "no" || test "$PHP_POLYRPC_SWIG" = "yes"; then
      POLYRPC_SWIG_DIR="$ext_srcdir/../../swig"
    else
      POLYRPC_SWIG_DIR="$PHP_POLYRPC_SWIG"
    fi
    if test ! -f "$POLYRPC_SWIG_DIR/polyrpc.i"; then
      AC_MSG_ERROR([no polyrpc.i in $POLYRPC_SWIG_DIR (use --with-polyrpc-swig=DIR)])
    fi
    POLYRPC_INCLUDEDIR=`$PKG_CONFIG --variable=includedir polyrpc`
    AC_MSG_NOTICE([generating polyrpc_wrap.cxx from $POLYRPC_SWIG_DIR/polyrpc.i])
    "$SWIG" -php7 -I"$POLYRPC_INCLUDEDIR" -I"$POLYRPC_SWIG_DIR" -o "$ext_srcdir/polyrpc_wrap.cxx" \
      "$POLYRPC_SWIG_DIR/polyrpc.i" || AC_MSG_ERROR([swig failed])
  fi

  PHP_REQUIRE_CXX()
  PHP_SUBST(POLYRPC_SHARED_LIBADD)
  dnl Generated code is not ours to keep warning-free (the same -w as bindings/swig/CMakeLists.txt).
  PHP_NEW_EXTENSION(polyrpc, polyrpc_wrap.cxx, $ext_shared, , [-w -DZEND_ENABLE_STATIC_TSRMLS_CACHE=1], cxx)
fi
