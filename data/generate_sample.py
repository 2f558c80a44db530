"""Regenerate the bundled sample export: python data/generate_sample.py [OUT_DIR]  (default data/sample)."""

import sys
from pathlib import Path

from agentops_kit.sample import write_sample

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "sample"
    for name, path in write_sample(out).items():
        print(f"{name}: {path} ({path.stat().st_size:,} bytes)")
