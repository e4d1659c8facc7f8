"""How far a batch is: a tqdm bar on a terminal, else one line per image."""

from __future__ import annotations

import sys
from pathlib import Path


class Progress:
    """A tqdm bar on a terminal (when tqdm is installed); otherwise one line per
    file on stdout."""

    def __init__(self, total: int):
        self.total, self.n = total, 0
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, unit="image", file=sys.stderr)

    def step(self, path: Path) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix_str(path.name, refresh=False)
            self.bar.update()
        else:
            print(f"[{self.n}/{self.total}] {path}", flush=True)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
