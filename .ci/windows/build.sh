#!/bin/sh
# Cross-builds gridsync for Windows x86-64 on Debian 12 (issue 22).
#
#   .ci/windows/build.sh [deps|app|zip|all]     (default: all)
#
# deps: Debian's mingw-w64 toolchain (posix threads variant) and every
#   library gridsync links, each built from Debian's own source package
#   (apt-get source, from a deb-src entry for the same archive as the
#   machine's debian.sources; nothing else is downloaded), as static
#   libraries into a prefix cached under $GS_WIN_CACHE (default
#   /var/cache/gridsync-win), keyed by the source versions and this
#   script: a second run with the same versions builds nothing.
# app: meson cross build into build-win/ (cross file beside this script).
# zip: build-win/gridsync-windows-x86_64.zip (and the NSIS installer).
#
# Not built for Windows: criterion (the Windows unit runner is
# tests/windows/runner.c, see docs/WINDOWS.md).
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
what=${1:-all}
host=x86_64-w64-mingw32
cache=${GS_WIN_CACHE:-/var/cache/gridsync-win}
jobs=${GS_WIN_JOBS:-2}

# Debian source package names (libxlsxwriter needs zlib; libpng too).
gs_win_srcpkgs="gettext zlib libsodium libuv1 lmdb msgpack-c libzstd jansson \
libmicrohttpd qrencode libpng1.6 libxlsxwriter"

gs_win_recipe=2

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi

win_toolchain() {
  need=""
  for p in gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix \
      binutils-mingw-w64-x86-64 \
      mingw-w64-x86-64-dev dpkg-dev cmake make autoconf automake libtool \
      pkg-config meson ninja-build zip xz-utils bzip2 nsis; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
      need="$need $p"
  done
  src=/etc/apt/sources.list.d/gridsync-win-src.sources
  if [ ! -f /etc/apt/sources.list.d/debian.sources ]; then
    echo "no /etc/apt/sources.list.d/debian.sources: cannot add its deb-src" >&2
    exit 1
  fi
  if [ ! -f "$src" ]; then
    # deb-src for exactly the archives (and signing key) of debian.sources.
    sed -n 's/^Types: deb$/Types: deb-src/;p' \
      /etc/apt/sources.list.d/debian.sources | $sudo tee "$src" >/dev/null
    fresh=1
  fi
  if [ -n "$need" ] || [ -n "${fresh:-}" ]; then
    $sudo apt-get update -qq
  fi
  if [ -n "$need" ]; then
    echo "installing:$need"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends $need
  fi
}

# The version apt would fetch for a source package (the candidate).
src_version() {
  apt-cache showsrc "$1" 2>/dev/null | awk '/^Version:/ {print $2}' |
    sort -V | tail -n 1
}

# apt-get source into $cache/src; if the newest version's files are not
# all on the mirror, the next older version of the same archive.
fetch_src() {
  pkg=$1
  mkdir -p "$cache/src"
  for v in $(apt-cache showsrc "$pkg" | awk '/^Version:/ {print $2}' |
      sort -rV | uniq); do
    if ls "$cache/src/${pkg}_"*"$(echo "$v" | sed 's/^[0-9]*://')".dsc \
        >/dev/null 2>&1; then
      echo "$v"; return 0
    fi
    if (cd "$cache/src" && apt-get source -qq --download-only "$pkg=$v") \
        >"$cache/src/$pkg.log" 2>&1; then
      echo "$v"; return 0
    fi
  done
  # Last resort: the version's own upstream tarball from the same archive
  # (qrencode's Debian part was missing from the mirror), without
  # Debian's patches.
  v=$(src_version "$pkg")
  ls "$cache/src/${pkg}_"*.orig.tar.* >/dev/null 2>&1 || return 1
  echo "$v"
}

unpack() {  # pkg version -> prints the unpacked directory
  pkg=$1 v=$2
  up=$(echo "$v" | sed 's/^[0-9]*://')
  rm -rf "$work/$pkg"
  mkdir -p "$work/$pkg"
  dsc=$(ls "$cache/src/${pkg}_$up.dsc" 2>/dev/null || true)
  if [ -n "$dsc" ] && (cd "$work/$pkg" &&
      dpkg-source -x --skip-debianization "$dsc" src) >/dev/null 2>&1; then
    echo "$work/$pkg/src"; return 0
  fi
  tarball=$(ls "$cache/src/${pkg}_"*.orig.tar.* | head -n 1)
  mkdir -p "$work/$pkg/src"
  tar -xf "$tarball" -C "$work/$pkg/src" --strip-components=1
  echo "$work/$pkg/src"
}

cmake_build() {  # srcdir [cmake args...]
  s=$1; shift
  cmake -S "$s" -B "$s/_win" -G "Unix Makefiles" \
    -DCMAKE_TOOLCHAIN_FILE="$work/toolchain.cmake" \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF "$@" >"$s/_win.log" 2>&1
  nice make -C "$s/_win" -j"$jobs" install >>"$s/_win.log" 2>&1
}

auto_build() {  # srcdir [configure args...]
  s=$1; shift
  (cd "$s" && { [ -x configure ] || autoreconf -fi; } &&
    ./configure --host=$host --prefix="$prefix" --enable-static \
      --disable-shared "$@" && nice make -j"$jobs" && make install) \
    >"$s/_win.log" 2>&1
}

build_one() {  # pkg srcdir
  pkg=$1 s=$2
  case $pkg in
  gettext)
    # libintl only (gettext-runtime/intl), without iconv: the catalogues
    # are UTF-8 and so is what gridsync prints.
    (cd "$s/gettext-runtime" && ./configure --host=$host --prefix="$prefix" \
      --enable-static --disable-shared --disable-java --disable-csharp \
      --disable-libasprintf --disable-c++ --without-libiconv-prefix &&
      nice make -C intl -j"$jobs" && make -C intl install) >"$s/_win.log" 2>&1 ;;
  zlib)
    # Debian's source drops win32/ (the DLL's resource file): build the
    # static library only, by hand.
    (cd "$s" && for f in adler32 compress crc32 deflate gzclose gzlib gzread \
        gzwrite infback inffast inflate inftrees trees uncompr zutil; do
      $CC -O2 -c $f.c -o $f.o || exit 1
    done && $AR rcs libz.a ./*.o) >"$s/_win.log" 2>&1
    cp "$s/libz.a" "$prefix/lib/"
    cp "$s/zlib.h" "$s/zconf.h" "$prefix/include/"
    printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\nName: zlib\nDescription: zlib\nVersion: 1.2.13\nLibs: -L${libdir} -lz\nCflags: -I${includedir}\n' \
      "$prefix" >"$prefix/lib/pkgconfig/zlib.pc" ;;
  libsodium)
    auto_build "$s" --disable-pie ;;
  libuv1)
    cmake_build "$s" -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
    # uv_a.a is the static one; the .pc's -luv must mean it.
    cp "$prefix/lib/libuv_a.a" "$prefix/lib/libuv.a"
    rm -f "$prefix/lib/libuv.dll.a" "$prefix/bin/libuv.dll"
    sed -i 's/^Libs:.*/Libs: -L${libdir} -luv -lpsapi -luser32 -ladvapi32 -liphlpapi -luserenv -lws2_32 -ldbghelp -lole32 -lshell32/' \
      "$prefix/lib/pkgconfig/libuv.pc"
    rm -f "$prefix/lib/pkgconfig/libuv-static.pc" ;;
  lmdb)
    d="$s/libraries/liblmdb"
    (cd "$d" && $host-gcc-posix -O2 -c mdb.c midl.c &&
      $host-ar rcs liblmdb.a mdb.o midl.o) >"$s/_win.log" 2>&1
    cp "$d/liblmdb.a" "$prefix/lib/"
    cp "$d/lmdb.h" "$prefix/include/"
    printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\nName: lmdb\nDescription: LMDB\nVersion: 0.9.24\nLibs: -L${libdir} -llmdb\nCflags: -I${includedir}\n' \
      "$prefix" >"$prefix/lib/pkgconfig/lmdb.pc" ;;
  msgpack-c)
    cmake_build "$s" -DMSGPACK_BUILD_TESTS=OFF -DMSGPACK_BUILD_EXAMPLES=OFF \
      -DMSGPACK_ENABLE_SHARED=OFF ;;
  libzstd)
    cmake_build "$s/build/cmake" -DZSTD_BUILD_SHARED=OFF \
      -DZSTD_BUILD_PROGRAMS=OFF -DZSTD_BUILD_TESTS=OFF ;;
  jansson)
    cmake_build "$s" -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON \
      -DJANSSON_EXAMPLES=OFF ;;
  libmicrohttpd)
    auto_build "$s" --disable-https --without-gnutls --disable-doc \
      --disable-examples --disable-curl --disable-nls ;;
  qrencode)
    cmake_build "$s" -DWITH_TOOLS=OFF -DWITH_TESTS=OFF
    [ -f "$prefix/lib/pkgconfig/libqrencode.pc" ] ||
      printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\nName: libqrencode\nDescription: QR codes\nVersion: 4.1.1\nLibs: -L${libdir} -lqrencode\nCflags: -I${includedir}\n' \
        "$prefix" >"$prefix/lib/pkgconfig/libqrencode.pc" ;;
  libpng1.6)
    cmake_build "$s" -DPNG_SHARED=OFF -DPNG_TESTS=OFF -DPNG_EXECUTABLES=OFF \
      -DZLIB_ROOT="$prefix" -DZLIB_LIBRARY="$prefix/lib/libz.a" ;;
  libxlsxwriter)
    cmake_build "$s" -DZLIB_ROOT="$prefix" -DZLIB_LIBRARY="$prefix/lib/libz.a"
    [ -f "$prefix/lib/pkgconfig/xlsxwriter.pc" ] ||
      printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\nName: xlsxwriter\nDescription: xlsx\nVersion: 1.1.4\nRequires.private: zlib\nLibs: -L${libdir} -lxlsxwriter\nCflags: -I${includedir}\n' \
        "$prefix" >"$prefix/lib/pkgconfig/xlsxwriter.pc" ;;
  esac
}

win_deps() {
  win_toolchain
  vers=""
  for p in $gs_win_srcpkgs; do
    v=$(fetch_src "$p") || { echo "cannot fetch the source of $p" >&2; exit 1; }
    vers="$vers $p=$v"
  done
  gccv=$(dpkg-query -W -f='${Version}' gcc-mingw-w64-x86-64-posix)
  # Bump gs_win_recipe when build_one changes how a library is built.
  key=$(echo "$vers gcc=$gccv recipe=$gs_win_recipe" | sha256sum | cut -c1-16)
  prefix="$cache/deps-$key"
  work="$cache/work"
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include" "$work"
  cat >"$work/toolchain.cmake" <<TC
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $host-gcc-posix)
set(CMAKE_CXX_COMPILER $host-g++-posix)
set(CMAKE_RC_COMPILER $host-windres)
set(CMAKE_FIND_ROOT_PATH /usr/$host $prefix)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
TC
  t0=$(date +%s)
  for pv in $vers; do
    p=${pv%%=*} v=${pv#*=}
    [ -f "$prefix/.done-$p" ] && continue
    echo "building $p $v for Windows"
    s=$(unpack "$p" "$v")
    # A child shell, so that set -e stops at the first failing step.
    if ! prefix=$prefix work=$work sh "$0" _one "$p" "$s"; then
      echo "building $p failed; its log:" >&2
      tail -n 40 "$s"/_win.log >&2 || true
      exit 1
    fi
    touch "$prefix/.done-$p"
    rm -rf "$work/$p"
  done
  echo "Windows libraries in $prefix ($(( $(date +%s) - t0 ))s)"
  ln -sfn "$prefix" "$cache/current"
}

win_app() {
  prefix=$(readlink -f "$cache/current")
  cross="$top/.ci/windows/x86_64-w64-mingw32.ini"
  # The cross file names its prefix as a constant; this build's one
  # overrides it.
  printf '[constants]\ndeps = %s\n' "'$prefix'" >"$cache/cross-prefix.ini"
  # meson keeps the cross files' values: another prefix is a new setup
  if [ -d build-win ] && [ "$(cat build-win/.gs-win-prefix 2>/dev/null)" = "$prefix" ]; then
    meson setup build-win --reconfigure --cross-file "$cache/cross-prefix.ini" \
      --cross-file "$cross" -Dwerror=true >/dev/null
  else
    rm -rf build-win
    meson setup build-win --cross-file "$cache/cross-prefix.ini" \
      --cross-file "$cross" -Dwerror=true
    echo "$prefix" >build-win/.gs-win-prefix
  fi
  nice ninja -C build-win -j"$jobs"
}

win_zip() {
  sh "$top/.ci/windows/package.sh" "$top/build-win"
}

case $what in
_one) prefix=$prefix work=$work
  export CC=$host-gcc-posix AR=$host-ar RANLIB=$host-ranlib
  export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH=""
  export CFLAGS="-O2" CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib"
  build_one "$2" "$3" ;;
deps) win_deps ;;
app) win_app ;;
zip) win_zip ;;
all) win_deps; win_app; win_zip ;;
*) echo "usage: $0 [deps|app|zip|all]" >&2; exit 2 ;;
esac
