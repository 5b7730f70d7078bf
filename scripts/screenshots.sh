#!/usr/bin/env bash
# Screenshots of the QT GUI flowgraphs running, for docs/figures (no display needed: Qt's
# offscreen platform). Each flowgraph is compiled with grcc and run to completion by
# semcom_blocks.qt_run, which saves the window once the Semantic Sink has written its video.
#   scripts/screenshots.sh            (after make setup; a semantic service is started as needed)
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/figures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export QT_QPA_PLATFORM=offscreen GRC_BLOCKS_PATH="$PWD/semcom_blocks/grc"
grcc -o "$work" flowgraphs/video_loopback.grc >/dev/null
(cd "$work" && "$OLDPWD/.venv/bin/python" -m semcom_blocks.qt_run video_loopback.py \
   --screenshot "$OLDPWD/$out/qt_video_loopback.png" --linger 3 -- --address tcp://127.0.0.1:5599)
echo "wrote $out/qt_video_loopback.png"
