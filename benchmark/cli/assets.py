"""`hcvg assets list | fetch`: pretrained files, where they are, how to get them."""

from __future__ import annotations

import argparse
import sys

from benchmark.cli.base import Subcommand


def _size(num_bytes: int | None) -> str:
    if not num_bytes:
        return "?"
    return f"{num_bytes / 2**20:.1f} MiB"


class AssetsCommand(Subcommand):
    name = "assets"
    help = "List pretrained assets (weights, detector models) or fetch one into the asset cache."
    description = """Pretrained files are looked up, in order, at an explicit path, an environment
variable, the asset cache ($HCVG_ASSET_DIR, default ~/.cache/hcvg/assets) and the
Hugging Face hub cache. `fetch` brings hub-hosted models (CLIP, the BLIP captioners)
into the hub cache and downloads other files from their official source, with a
progress bar, where the network allows; where it cannot, it builds the file locally if
a recipe exists (the hand landmarker is assembled from the mediapipe==0.10.21 wheel on
PyPI), or says exactly what to get by hand and where to put it."""
    epilog = """examples:
  hcvg assets list
  hcvg assets fetch hand-landmarker
  hcvg assets fetch clip-vit-l-14 blip-caption-large blip-caption-base inception-fid-pytorch"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["list", "fetch"], help="what to do")
        parser.add_argument("names", nargs="*", help="assets to fetch (see `hcvg assets list`)")
        parser.add_argument("--force", action="store_true", help="fetch again even if present")

    def run(self, args: argparse.Namespace) -> int:
        from benchmark.asset_fetch import fetch_asset
        from hcvg.assets import AssetNotFoundError, asset_status, list_assets, sha256_of

        if args.action == "list":
            statuses = [asset_status(name) for name in list_assets()]
            # One name column wide enough for the longest name, so every detail line lines up.
            width = max((len(s["name"]) for s in statuses), default=0)
            for status in statuses:
                mark = "present" if status["present"] else "MISSING"
                print(f"{status['name']:<{width}}  {mark:<8} {status['filename']} ({_size(status['size_bytes'])})")
                print(f"{'':<{width}}  at:      {status['path'] or status['expected_location']}")
                print(f"{'':<{width}}  source:  {status['official_source']}")
                if status["env_var"]:
                    print(f"{'':<{width}}  env:     {status['env_var']}")
                print(f"{'':<{width}}  pin:     {_pin_line(status)}")
            return 0
        if not args.names:
            print("error: name the assets to fetch, e.g. `hcvg assets fetch hand-landmarker`")
            return 2
        failed = []
        for name in args.names:
            try:
                path = fetch_asset(name, force=args.force)
            except AssetNotFoundError as err:  # said in full; the other names are still fetched
                print(f"error: {err}", file=sys.stderr)
                failed.append(name)
                continue
            print(f"{name}: {path}")
            if path.is_file():
                print(f"{'':<{len(name)}}  sha256 {sha256_of(path)}")
        if failed:
            print(f"could not fetch {len(failed)} of {len(args.names)}: {' '.join(failed)}", file=sys.stderr)
            return 1
        return 0


def _pin_line(status: dict) -> str:
    """The pin and, for a present file, whether it matches (folders are not hashed)."""
    from hcvg.asset_pins import pin_matches

    pin, digest = status.get("pinned"), status.get("sha256")
    if pin is None:
        return f"not pinned (found file: sha256 {digest})" if digest else "not pinned"
    if digest is None:
        return f"sha256 {pin}"
    return f"sha256 {pin} ({'matches' if pin_matches(pin, digest) else 'MISMATCH: found ' + digest})"
