"""Slow reference of the hardware models in plain Python integers (no torch).

Written independently of the tensor code of this package (bit loops instead of IEEE
tricks) so that the tests compare two different implementations of the same definitions:

- fixed point: word = round(x * 2^fl), half to even, saturated to ``bits`` bits;
- DRUM-k (Hashemi et al., ICCAD 2015), sign-magnitude with an XOR sign;
- leading-one truncation (DRUM's k leading bits, nothing forced) and Mitchell's
  logarithmic product (J. N. Mitchell, 1962), both on magnitudes with an XOR sign;
- a 256 x 256 product table indexed by the operands' 8-bit patterns;
- SRAM bit flips: XOR of a bit mask on the ``bits``-bit two's complement pattern.
"""

from __future__ import annotations


def quantize(x: float, fl: int, bits: int) -> int:
    """Fixed-point word of x: Python round (half to even) of x * 2**fl, saturated."""
    value = round(x * 2**fl)
    top = (1 << (bits - 1)) - 1
    bottom = -(1 << (bits - 1))
    if value > top:
        return top
    if value < bottom:
        return bottom
    return value


def _leading_one(magnitude: int) -> int:
    """Index of the leading one of a positive integer (bit loop)."""
    lead = 0
    while magnitude >> (lead + 1):
        lead += 1
    return lead


def trunc_t(x: int, k: int) -> int:
    """The k leading bits of the magnitude of x (the rest cleared), sign kept."""
    negative = x < 0
    magnitude = -x if negative else x
    if magnitude < (1 << k):
        return x
    lead = _leading_one(magnitude)
    kept = 0
    for i in range(lead - k + 1, lead + 1):
        if (magnitude >> i) & 1:
            kept += 1 << i
    return -kept if negative else kept


def drum_t(x: int, k: int) -> int:
    """DRUM-k operand transform of a signed integer (applied to the magnitude, sign kept):
    the k leading bits with the lowest of them forced to 1."""
    magnitude = abs(x)
    if magnitude < (1 << k):
        return x
    kept = trunc_t(magnitude, k) | (1 << (_leading_one(magnitude) - k + 1))
    return -kept if x < 0 else kept


def drum_mul(a: int, b: int, k: int) -> int:
    """DRUM-k product: T_k(|a|) * T_k(|b|) with the sign sign(a) XOR sign(b)."""
    magnitude = drum_t(abs(a), k) * drum_t(abs(b), k)
    return -magnitude if (a < 0) != (b < 0) else magnitude


def mitchell_mul(a: int, b: int) -> int:
    """Mitchell's product of the magnitudes, sign(a) XOR sign(b): with |a| = 2^ka + fa and
    |b| = 2^kb + fb (the leading ones split off), the antilog of ka + kb + fa/2^ka + fb/2^kb
    read with a linear mantissa: 2^(ka+kb) + s if s = fa 2^kb + fb 2^ka < 2^(ka+kb),
    else 2s. Zero if an operand is zero."""
    x, y = abs(a), abs(b)
    if x == 0 or y == 0:
        return 0
    ka, kb = _leading_one(x), _leading_one(y)
    fa, fb = x - (1 << ka), y - (1 << kb)
    s = (fa << kb) + (fb << ka)
    magnitude = (1 << (ka + kb)) + s if s < (1 << (ka + kb)) else 2 * s
    return -magnitude if (a < 0) != (b < 0) else magnitude


def table_mul(a: int, b: int, table, signed: bool) -> int:
    """A table multiplier: signed, table[a & 255][b & 255] (the two's complement patterns);
    unsigned, table[|a|][|b|] with the sign sign(a) XOR sign(b)."""
    if signed:
        return int(table[a & 255][b & 255])
    magnitude = int(table[abs(a)][abs(b)])
    return -magnitude if (a < 0) != (b < 0) else magnitude


def hash32(x: int) -> int:
    """The "lowbias32" integer hash (32-bit), as the chips memory model uses it."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x45D9F3B) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x45D9F3B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def chip_uniform(chip_seed: int, chip: int, cell: int) -> float:
    """The uniform of bit cell `cell` of chip `chip`: hash(chip_seed, chip, cell) / 2^32."""
    base = hash32(hash32(chip_seed) + chip)
    return hash32(base + cell) / 2**32


def flip(word: int, mask: int, bits: int) -> int:
    """XOR ``mask`` into the ``bits``-bit two's complement pattern of word, sign-extended."""
    if not 0 <= mask < (1 << bits):
        raise ValueError(f"mask={mask} does not fit {bits} bits")
    pattern = word + (1 << bits) if word < 0 else word
    result = 0
    for i in range(bits):
        if ((pattern >> i) & 1) != ((mask >> i) & 1):
            result += 1 << i
    return result - (1 << bits) if result >= (1 << (bits - 1)) else result


def dot(xs: list[int], ws: list[int], k: int | None = None) -> int:
    """Integer dot product with DRUM-k products (exact ones when k is None), exact sum."""
    if len(xs) != len(ws):
        raise ValueError(f"length mismatch: {len(xs)} != {len(ws)}")
    total = 0
    for x, w in zip(xs, ws):
        total += x * w if k is None else drum_mul(x, w, k)
    return total
