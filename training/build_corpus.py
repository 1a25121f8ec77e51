"""Rebuild the Jane Austen corpus from Debian's `r-cran-janeaustenr` package.

    python -m training.build_corpus --out data/austen

Downloads the .deb with `apt-get download`, unpacks it with `dpkg-deb -x`, reads the
six novels from the package's R lazy-load database and writes one paragraph per line:
`train.txt` and a held-out `valid.txt` (every 20th chapter of each novel). Also writes
`assets/heldout_prompts.jsonl`, the prompts benchmarks and examples draw from.
"""
import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

from training.rdata import read_lazyload_db

CHAPTER = re.compile(r"^(CHAPTER|Chapter)\b")
HELDOUT_EVERY = 20


def novel_chapters(lines: list[str]) -> list[list[str]]:
    """Split a novel's raw lines into chapters of paragraphs (front matter dropped)."""
    chapters, paragraph = [], []
    for line in lines + [""]:
        line = line.replace("_", "").strip()  # underscores mark italics in the source
        if CHAPTER.match(line):
            chapters.append([])
            paragraph = []
        elif line:
            paragraph.append(line)
        elif paragraph:
            if chapters:
                chapters[-1].append(" ".join(paragraph))
            paragraph = []
    return chapters


def download_novels(workdir: Path) -> dict:
    subprocess.run(["apt-get", "download", "r-cran-janeaustenr"], cwd=workdir, check=True)
    deb = next(workdir.glob("r-cran-janeaustenr_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "x")], check=True)
    stem = workdir / "x/usr/lib/R/site-library/janeaustenr/data/Rdata"
    return read_lazyload_db(stem)


def heldout_prompts(paragraphs: list[str], n_words: int = 12, limit: int = 200) -> list[dict]:
    """The opening words of held-out paragraphs long enough to continue."""
    out = []
    for i, p in enumerate(paragraphs):
        words = p.split()
        if len(words) >= 40 and not p.startswith('"'):
            out.append({"id": i, "prompt": " ".join(words[:n_words]), "reference": " ".join(words[n_words:])})
        if len(out) == limit:
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/austen"))
    ap.add_argument("--prompts", type=Path, default=Path("assets/heldout_prompts.jsonl"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        novels = download_novels(Path(tmp))
    train, valid = [], []
    for name, lines in novels.items():
        for c, chapter in enumerate(novel_chapters(lines)):
            (valid if c % HELDOUT_EVERY == HELDOUT_EVERY - 1 else train).extend(chapter)
        print(f"{name}: {len(lines)} lines")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train.txt").write_text("\n".join(train) + "\n")
    (args.out / "valid.txt").write_text("\n".join(valid) + "\n")
    prompts = heldout_prompts(valid)
    args.prompts.write_text("".join(json.dumps(p) + "\n" for p in prompts))
    print(f"train {len(train)} paragraphs, valid {len(valid)} paragraphs, {len(prompts)} prompts")


if __name__ == "__main__":
    main()
