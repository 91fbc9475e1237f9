"""LZW as Go's compress/lzw speaks it with LSB bit order and 8-bit literals.

Codes start 9 bits wide and grow to 12; 256 is the clear code, 257 end-of-data, new
strings take codes from 258 in order. The writer starts with a clear code and, when the
next free code would reach 4095, sends a clear code and starts over with an empty table.
Codes are packed least-significant-bit first.
"""

from __future__ import annotations

from minikube13.gossip.wire import WireError

LIT_WIDTH = 8
CLEAR = 1 << LIT_WIDTH          # 256
EOF = CLEAR + 1                 # 257
MAX_WIDTH = 12
MAX_CODE = (1 << MAX_WIDTH) - 1  # 4095: the writer clears before handing this one out
MAX_OUTPUT = 64 * 1024 * 1024   # refuse decompression bombs


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.bits = 0
        self.nbits = 0

    def write(self, code: int, width: int) -> None:
        self.bits |= code << self.nbits
        self.nbits += width
        while self.nbits >= 8:
            self.out.append(self.bits & 0xFF)
            self.bits >>= 8
            self.nbits -= 8

    def finish(self) -> bytes:
        if self.nbits > 0:
            self.out.append(self.bits & 0xFF)
        return bytes(self.out)


class _Encoder:
    """The code-assignment state shared by compress(): next free code and code width."""

    def __init__(self, bits: _BitWriter) -> None:
        self.bits = bits
        self.table: dict[int, int] = {}
        self.reset()

    def reset(self) -> None:
        self.width = LIT_WIDTH + 1
        self.hi = EOF
        self.overflow = 1 << self.width
        self.table.clear()

    def emit(self, code: int) -> bool:
        """Write `code`, then claim the next code; False when the table was just reset."""
        self.bits.write(code, self.width)
        self.hi += 1
        if self.hi == self.overflow:
            self.width += 1
            self.overflow <<= 1
        if self.hi == MAX_CODE:
            self.bits.write(CLEAR, self.width)
            self.reset()
            return False
        return True


def compress(data: bytes) -> bytes:
    bits = _BitWriter()
    enc = _Encoder(bits)
    bits.write(CLEAR, enc.width)
    if data:
        code = data[0]
        for byte in data[1:]:
            key = code << 8 | byte
            known = enc.table.get(key)
            if known is not None:
                code = known
                continue
            if enc.emit(code):
                enc.table[key] = enc.hi
            code = byte
        enc.emit(code)
    bits.write(EOF, enc.width)
    return bits.finish()


def decompress(data: bytes, limit: int = MAX_OUTPUT) -> bytes:
    out = bytearray()
    table: dict[int, bytes] = {}
    width, hi, prev = LIT_WIDTH + 1, EOF, b""
    acc = nbits = pos = 0
    while True:
        while nbits < width:
            if pos >= len(data):
                raise WireError("lzw: unexpected end of data")
            acc |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = acc & ((1 << width) - 1)
        acc >>= width
        nbits -= width
        if code == CLEAR:
            width, hi, prev = LIT_WIDTH + 1, EOF, b""
            table.clear()
            continue
        if code == EOF:
            return bytes(out)
        if code < CLEAR:
            entry = bytes([code])
        elif code in table:
            entry = table[code]
        elif code == hi and prev:
            entry = prev + prev[:1]
        else:
            raise WireError(f"lzw: invalid code {code}")
        if prev:
            table[hi] = prev + entry[:1]
        out += entry
        if len(out) > limit:
            raise WireError("lzw: output over limit")
        prev = entry
        hi += 1
        if hi >= 1 << width:
            if width == MAX_WIDTH:
                prev, hi = b"", hi - 1      # table full: no new entries until a clear
            else:
                width += 1
