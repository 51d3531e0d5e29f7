"""Tiles/s of the issue-23 network candidates, in one process on the same tiles (CPU).

    OMP_NUM_THREADS=2 python tests/benchmarks/candidate_speed.py [--tiles 32] [--batch 16]
        [--repeats 3] [--checkpoint NAME=PATH ...] [--json out.json]

Issue 23 asks for tiles/s beside every candidate's dev and held-out-family figures. The speed of
a network does not depend on its weights, so the backbone variants of the model card's
``backbone_choice`` (DINOv2-S cut after 4, 6, 8 or all 12 blocks, and the ``own`` transformer
branch of v1/v2) are built from their configs with random weights; trained checkpoints given with
``--checkpoint`` (the bundled v2 and v3 by default) are loaded as they are. Every network runs the
same standardised tiles with both levels' CAMs, as ``Analyzer`` runs them (fp32, channels-last,
inference mode), in batches of ``--batch``; the candidates are interleaved round by round so that
load that comes and goes hits all of them alike, and each keeps its best round. GFLOP per tile is
counted by torch's FLOP counter. The ratio column is tiles/s over the bundled model's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def _tiles(n: int) -> torch.Tensor:
    """``n`` standardised tiles of a generated ductile frame, prepared as the pipeline prepares
    it (real texture, not noise)."""
    import tempfile

    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.commands.bench import _generated_image
    from fractoscope.imaging import extract_tiles, tile_grid
    from fractoscope.io import read_sem

    analyzer = Analyzer(device="cpu", tile_cache=False)
    with tempfile.TemporaryDirectory() as d:
        sem = read_sem(_generated_image(Path(d), 1280, 960))
    prep = analyzer.prepare(sem)
    spec = analyzer.input_spec
    boxes = tile_grid(prep.image.shape, spec.tile_size, analyzer.overlap)
    boxes = (boxes * (n // len(boxes) + 1))[:n]
    tiles = extract_tiles(prep.image, boxes, spec.tile_size)
    return torch.from_numpy(spec.standardise(tiles))[:, None].contiguous(memory_format=torch.channels_last)


def _flops(model: torch.nn.Module, x: torch.Tensor, s: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(x[:1], s[:1], with_cams=True)
    return fc.get_total_flops() / 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiles", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--checkpoint", action="append", default=None, metavar="NAME=PATH",
                    help="a trained candidate (repeat); default: the bundled v3 and v2")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.tiles < 1 or args.batch < 1 or args.repeats < 1:
        print("candidate_speed: --tiles, --batch and --repeats must be at least 1", file=sys.stderr)
        return 2

    from fractoscope.model.checkpoint import default_model_path, load_checkpoint, read_card
    from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig

    torch.manual_seed(0)
    models_dir = default_model_path().parent
    pairs = args.checkpoint or [
        f"hffnet2d-v3 (bundled)={models_dir / 'hffnet2d-v3.safetensors'}",
        f"hffnet2d-v2={models_dir / 'hffnet2d-v2.safetensors'}",
    ]
    nets: dict[str, torch.nn.Module] = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        if not path:
            print(f"candidate_speed: --checkpoint wants NAME=PATH, got {pair!r}", file=sys.stderr)
            return 2
        try:
            nets[name] = load_checkpoint(Path(path)).model
        except Exception as exc:  # a benchmark line, not a traceback
            print(f"candidate_speed: {name}: {exc}", file=sys.stderr)
            return 2
    v3cfg = read_card(default_model_path())["config"]
    for blocks in (4, 6, 8, 12):
        cfg = HFFNetConfig.from_dict({**v3cfg, "vit": "dinov2_s", "vit_blocks": blocks})
        nets[f"DINOv2-S first {blocks} blocks (random weights)"] = HFFNet2d(cfg)
    for m in nets.values():
        m.eval().to(memory_format=torch.channels_last)

    size = int(v3cfg["input_size"])
    x = _tiles(args.tiles)
    s = torch.full((args.tiles,), 120.0)
    flops = {k: _flops(m, x, s) for k, m in nets.items()}

    def run(m: torch.nn.Module) -> None:
        with torch.inference_mode():
            for i in range(0, args.tiles, args.batch):
                m(x[i : i + args.batch], s[i : i + args.batch], with_cams=True)

    best = {k: float("inf") for k in nets}
    for m in nets.values():  # warm-up (oneDNN primitive creation)
        run(m)
    for _ in range(args.repeats):
        for k, m in nets.items():
            t = time.perf_counter()
            run(m)
            best[k] = min(best[k], time.perf_counter() - t)
    ref = next(iter(nets))
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.tiles} tiles of {size} px "
          f"in batches of {args.batch}, both CAMs, best of {args.repeats}")
    print(f"{'network':48s} {'tiles/s':>8s} {'GFLOP/tile':>10s} {'GFLOP/s':>8s} {'vs ' + ref:>10s}")
    for k in nets:
        tps = args.tiles / best[k]
        rows.append({"network": k, "tiles_per_s": round(tps, 2), "gflop_per_tile": round(flops[k], 3),
                     "gflops": round(tps * flops[k], 1), "vs_reference": round(tps / (args.tiles / best[ref]), 3)})
        r = rows[-1]
        print(f"{k:48s} {r['tiles_per_s']:8.1f} {r['gflop_per_tile']:10.2f} {r['gflops']:8.1f} {r['vs_reference']:10.2f}")
    if args.json:
        args.json.write_text(json.dumps({"threads": torch.get_num_threads(), "tiles": args.tiles,
                                         "batch": args.batch, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
