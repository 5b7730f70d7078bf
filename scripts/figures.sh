#!/usr/bin/env bash
# Redraw docs/figures from the experiments that make them (`make figures`). Long: about an hour
# on two cores (the BER curves dominate). Each command is the one its doc gives (docs/fec.md,
# docs/codecs.md, docs/baselines.md, docs/schemes.md); FIGURES=ber,codec,cliff,adaptive picks groups
# (default: all).
# The train_*.png curves come from `semcom train CONFIG` runs (docs/codecs.md) and are not redrawn.
set -euo pipefail
cd "$(dirname "$0")/.."
SEMCOM=.venv/bin/semcom
F=docs/figures
GROUPS=",${FIGURES:-ber,codec,cliff,adaptive},"
mkdir -p out/figures

if [[ $GROUPS == *,ber,* ]]; then
  for spec in "1/2 r12 1.6:2.2:0.2" "2/3 r23 2.4:3.0:0.2" "3/4 r34 3.0:3.6:0.2" "5/6 r56 3.6:4.2:0.2"; do
    read -r rate tag ebn0 <<<"$spec"
    for dec in spa minsum; do
      $SEMCOM ber --code ldpc --n 648 --rate "$rate" --decoder $dec --ebn0 "$ebn0" --max-frames 200000 \
        --plot "$F/ber_ldpc648_${tag}_${dec}.png"
    done
  done
  $SEMCOM ber --code turbo --k 1024 --decoder maxlog --iterations 8 --ebn0 0.6:1.0:0.1 --plot "$F/ber_turbo1024_maxlog.png"
fi

if [[ $GROUPS == *,codec,* ]]; then
  for model in djscc_first_frame djscc_sketch djscc_rgb msvq_g8_l16; do
    $SEMCOM eval codec --model $model --snr 0,2,4,6,8,10 --out "out/figures/codec_$model.jsonl" \
      --plot "$F/codec_$model.png"
  done
fi

if [[ $GROUPS == *,cliff,* ]]; then
  $SEMCOM sweep cliff --out out/figures/cliff
  cp out/figures/cliff/plots/awgn.png "$F/cliff.png"   # the sweep draws one figure per channel
  .venv/bin/python -m semcom_host.experiments.cliff --out out/figures/cliff_h26x.json --plot "$F/cliff_h26x.png"
fi

if [[ $GROUPS == *,adaptive,* ]]; then
  $SEMCOM sweep adaptive --out out/figures/adaptive
  .venv/bin/python -m semcom_host.experiments.adaptive_figure --results out/figures/adaptive --out "$F/adaptive.png"
fi
