#!/usr/bin/env sh
# Put GAN Studio in the desktop's application menu: the .desktop entry, AppStream metainfo and the
# hicolor icons, for the current user (or PREFIX=/usr/local as root). `ganstudio` must be on PATH.
#     sh packaging/linux/install.sh            # ~/.local/share
#     sh packaging/linux/install.sh --uninstall
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ID=org.ganstudio.GANStudio
DATA=${PREFIX:+$PREFIX/share}
DATA=${DATA:-${XDG_DATA_HOME:-$HOME/.local/share}}
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$DATA/applications/$ID.desktop" "$DATA/metainfo/$ID.metainfo.xml"
    find "$DATA/icons/hicolor" -name "$ID.*" -delete 2>/dev/null || true
    echo "removed GAN Studio's desktop entry from $DATA"
    exit 0
fi
command -v ganstudio >/dev/null || echo "note: ganstudio is not on PATH; the menu entry needs it (pip install .)"
install -Dm644 "$HERE/$ID.desktop" "$DATA/applications/$ID.desktop"
install -Dm644 "$HERE/$ID.metainfo.xml" "$DATA/metainfo/$ID.metainfo.xml"
for icon in "$ROOT"/resources/icons/hicolor/*/apps/$ID.*; do
    rel=${icon#"$ROOT/resources/icons/hicolor/"}
    install -Dm644 "$icon" "$DATA/icons/hicolor/$rel"
done
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
echo "installed GAN Studio's desktop entry, metainfo and icons under $DATA"
