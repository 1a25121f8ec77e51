"""Minimal reader for R's lazy-load databases (`Rdata.rdx` + `Rdata.rdb`).

Enough of R's XDR serialisation format to read the character vectors that
`r-cran-janeaustenr` ships; no R installation needed.
"""
import gzip
import struct
import zlib
from pathlib import Path

NILVALUE, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 254, 1, 2, 9, 10, 13, 14, 16, 19
REFSXP, GLOBALENV, EMPTYENV, BASEENV, MISSINGARG, BASENAMESPACE = 255, 253, 242, 241, 251, 247


class _Reader:
    """Decodes one XDR ('X\\n') serialised R object."""

    def __init__(self, data: bytes):
        if data[:2] != b"X\n":
            raise ValueError("not an XDR R serialisation stream")
        self.buf, self.pos, self.refs = data, 2, []
        version = self.int()
        self.int(), self.int()  # writer R version, minimal reader version
        if version == 3:
            n = self.int()
            self.pos += n  # native encoding name

    def int(self) -> int:
        (v,) = struct.unpack_from(">i", self.buf, self.pos)
        self.pos += 4
        return v

    def bytes_(self, n: int) -> bytes:
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def read(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if kind in (NILVALUE, GLOBALENV, EMPTYENV, BASEENV, MISSINGARG, BASENAMESPACE):
            return None
        if kind == REFSXP:
            return self.refs[(flags >> 8) - 1]
        if kind == SYMSXP:
            name = self.read()
            self.refs.append(name)
            return name
        if kind == CHARSXP:
            n = self.int()
            return None if n == -1 else self.bytes_(n).decode("utf-8", errors="replace")
        if kind == LISTSXP:  # pairlist: attributes, tag, car, cdr
            out = {}
            while True:
                attr = self.read() if has_attr else None
                tag = self.read() if has_tag else None
                out[tag] = self.read()
                flags = self.int()
                kind, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
                if kind != LISTSXP:
                    self.pos -= 4
                    self.read()  # terminating NILVALUE
                    return out
        if kind in (LGLSXP, INTSXP):
            n = self.int()
            value = list(struct.unpack_from(f">{n}i", self.buf, self.pos))
            self.pos += 4 * n
        elif kind == REALSXP:
            n = self.int()
            value = list(struct.unpack_from(f">{n}d", self.buf, self.pos))
            self.pos += 8 * n
        elif kind in (STRSXP, VECSXP):
            n = self.int()
            value = [self.read() for _ in range(n)]
        else:
            raise ValueError(f"unsupported R type {kind}")
        if has_attr:
            attrs = self.read()
            if isinstance(attrs, dict) and "names" in attrs and kind == VECSXP:
                return dict(zip(attrs["names"], value))
        return value


def read_lazyload_db(stem: Path) -> dict:
    """Every object of an R lazy-load database `stem.rdx`/`stem.rdb`, by name."""
    index = _Reader(gzip.decompress(Path(f"{stem}.rdx").read_bytes())).read()
    blob = Path(f"{stem}.rdb").read_bytes()
    out = {}
    for name, (offset, length) in index["variables"].items():
        chunk = blob[int(offset):int(offset) + int(length)]
        out[name] = _Reader(zlib.decompress(chunk[4:])).read()  # 4-byte length header
    return out
