"""Fuzz ``rotpunkt.open(path).develop()`` with mutated DNG files.

Any exception that is not a :class:`rotpunkt.RotpunktError` is a crash (so is a hang or an allocation
past libFuzzer's ``-rss_limit_mb``). Inputs are DNGs written by the test suite's own writer
(``tests/hostile.write_valid``: strips, tiles, lossless JPEG, deflate, lossy JPEG, JPEG XL, LinearRaw,
opcode lists, profile tables), mutated by libFuzzer's byte mutator or by a TIFF-aware mutator that
changes IFD entries' types, counts, values and offsets, pixel-data segments and opcode parameters.

With atheris (coverage-guided, libFuzzer)::

    python fuzz/fuzz_open.py -max_total_time=3600 -rss_limit_mb=2048 -timeout=10 fuzz/corpus

Without atheris, or with ``--plain``: a random mutation loop of the same shape (no coverage feedback)::

    python fuzz/fuzz_open.py --plain --seconds 600 [--seed 1] [--artifacts DIR] [--timeout 10] [--keep-going]

Seeds are written to the first corpus folder (default fuzz/corpus) when it holds no file. Crashing inputs
are written as ``crash-*`` files (libFuzzer's ``-artifact_prefix`` or ``--artifacts``). See fuzz/README.md.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # hostile.py and dngwriter.py (seed files)

try:
    import atheris
except ImportError:  # pragma: no cover - the plain loop below needs nothing
    atheris = None

if atheris is not None and "--plain" in sys.argv:
    atheris = None  # the plain loop, even where atheris is installed

if atheris is not None:
    with atheris.instrument_imports(include=["rotpunkt", "tifffile"]):
        import tifffile  # noqa: F401 - instrumented for coverage

        import rotpunkt
        import rotpunkt.limits
else:
    import rotpunkt
    import rotpunkt.limits

# "develop at small size": the seeds are 48 x 32; a mutation may declare a larger image that is still
# within the default limits (500 MP) and decode it from a small deflate stream. Such a file is legal, only
# slow, so the fuzzer runs with small limits to spend its time on parsing, not on big allocations.
FUZZ_LIMITS = dict(max_pixels=1 << 20, max_decoded_bytes=16 << 20)

# The input file: an anonymous in-memory file where Linux has them (libFuzzer ends the process with exit(),
# so Python's atexit clean-up never runs under atheris), else a temporary folder removed at exit.
if hasattr(os, "memfd_create"):
    _FD = os.memfd_create("rotpunkt-fuzz-input")
    _INPUT = Path(f"/proc/self/fd/{_FD}")
else:  # pragma: no cover
    _FD = None
    _INPUT_DIR = tempfile.mkdtemp(prefix="rotpunkt-fuzz-")
    atexit.register(shutil.rmtree, _INPUT_DIR, ignore_errors=True)
    _INPUT = Path(_INPUT_DIR) / "input.dng"


def _write_input(data: bytes) -> None:
    if _FD is None:
        _INPUT.write_bytes(data)
    else:
        os.ftruncate(_FD, 0)
        os.pwrite(_FD, data, 0)


def test_one_input(data: bytes) -> None:
    """The harness: open and develop ``data`` as a DNG; RotpunktError is the expected failure."""
    _write_input(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with rotpunkt.open(_INPUT) as raw:
                raw.develop(workers=1)
        except rotpunkt.RotpunktError:
            pass


# ------------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------------

_INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095,
                4096, 32767, 32768, 65535, 65536, 2**24, 2**31 - 1, 2**31, 2**32 - 16, 2**32 - 1]
_TYPES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 14, 16, 99]


def _entries(buf: bytearray) -> tuple[str, list[int]]:
    """Byte order and the file positions of the IFD entries reachable without errors (best effort)."""
    bo = {b"II": "<", b"MM": ">"}.get(bytes(buf[:2]), "<")
    out: list[int] = []
    todo, seen = [], set()
    if len(buf) >= 8:
        todo.append(struct.unpack_from(bo + "I", buf, 4)[0])
    while todo and len(seen) < 64:
        ifd = todo.pop()
        if ifd in seen or ifd + 2 > len(buf):
            continue
        seen.add(ifd)
        n = struct.unpack_from(bo + "H", buf, ifd)[0]
        for i in range(min(n, 512)):
            pos = ifd + 2 + 12 * i
            if pos + 12 > len(buf):
                break
            out.append(pos)
            tag, typ, count = struct.unpack_from(bo + "HHI", buf, pos)
            if tag == 330 and count >= 1:  # SubIFDs
                off = struct.unpack_from(bo + "I", buf, pos + 8)[0]
                if count == 1:
                    todo.append(off)
                elif off + 4 * count <= len(buf):
                    todo.extend(struct.unpack_from(f"{bo}{min(count, 8)}I", buf, off))
        nxt = ifd + 2 + 12 * n
        if nxt + 4 <= len(buf):
            todo.append(struct.unpack_from(bo + "I", buf, nxt)[0])
    return bo, out


def _value(rng: random.Random, size: int) -> int:
    v = rng.choice(_INTERESTING + [size - 1, size, size + 1, rng.randrange(0, max(size, 1))])
    if rng.random() < 0.2:
        v += rng.randint(-4, 4)
    return v % 2**32


def _segment_starts(buf: bytearray, bo: str, entries: list[int]) -> list[int]:
    """File offsets of the strips and tiles (StripOffsets / TileOffsets values) that lie in the file."""
    out = []
    for pos in entries:
        tag, typ, count = struct.unpack_from(bo + "HHI", buf, pos)
        if tag in (273, 324) and typ in (3, 4) and 0 < count <= 4096:
            code, size = ("H", 2) if typ == 3 else ("I", 4)
            at = pos + 8 if size * count <= 4 else struct.unpack_from(bo + "I", buf, pos + 8)[0]
            if at + size * count <= len(buf):
                out += [o for o in struct.unpack_from(f"{bo}{count}{code}", buf, at) if o < len(buf)]
    return out


def mutate_structure(data: bytes, rng: random.Random) -> bytes:
    """One TIFF-aware mutation: an IFD entry's type, count, value/offset, or the bytes it points to; or
    the codec header at the start of a strip or tile (JPEG markers, JPEG XL size header)."""
    buf = bytearray(data)
    bo, entries = _entries(buf)
    if not entries:
        return bytes(buf)
    if rng.random() < 0.2:
        starts = _segment_starts(buf, bo, entries)
        if starts:
            at = rng.choice(starts) + rng.randrange(96)
            if at + 2 <= len(buf):
                if rng.random() < 0.5:
                    buf[at] = rng.randrange(256)
                else:  # JPEG headers are big-endian 16-bit fields
                    struct.pack_into(">H", buf, at, _value(rng, len(buf)) & 0xFFFF)
            return bytes(buf)
    pos = rng.choice(entries)
    tag, typ, count = struct.unpack_from(bo + "HHI", buf, pos)
    what = rng.random()
    if what < 0.15:
        struct.pack_into(bo + "H", buf, pos + 2, rng.choice(_TYPES))
    elif what < 0.35:
        struct.pack_into(bo + "I", buf, pos + 4, _value(rng, len(buf)))
    elif what < 0.6:
        struct.pack_into(bo + "I", buf, pos + 8, _value(rng, len(buf)))
    elif what < 0.65:
        struct.pack_into(bo + "H", buf, pos, rng.randrange(65536))  # a different tag
    else:  # change one value where the entry's values live (inline or out of line)
        size = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}.get(typ, 1)
        nbytes = size * count
        start = pos + 8 if nbytes <= 4 else struct.unpack_from(bo + "I", buf, pos + 8)[0]
        if start + nbytes > len(buf) or nbytes == 0:
            return bytes(buf)
        at = start + rng.randrange(max(nbytes - 3, 1))
        if at + 4 <= len(buf):
            # opcode lists are big-endian whatever the file's order
            order = ">" if tag in (51008, 51009, 51022) else bo
            struct.pack_into(order + "I", buf, at, _value(rng, len(buf)))
    return bytes(buf)


def mutate_bytes(data: bytes, rng: random.Random, max_size: int) -> bytes:
    """A few libFuzzer-like byte mutations, for the plain loop."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if not buf:
            break
        if op < 0.3:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op < 0.5:
            i = rng.randrange(len(buf))
            buf[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op < 0.65 and len(buf) > 4:
            i = rng.randrange(len(buf) - 3)
            struct.pack_into(rng.choice("<>") + "I", buf, i, _value(rng, len(buf)))
        elif op < 0.8:
            del buf[rng.randrange(len(buf)) :]  # truncate
        elif op < 0.9 and len(buf) < max_size:
            i, j = sorted(rng.randrange(len(buf)) for _ in range(2))
            k = rng.randrange(len(buf))
            buf[k:k] = buf[i : j + 1][: max_size - len(buf)]  # duplicate a chunk
        else:
            i, j = sorted(rng.randrange(len(buf)) for _ in range(2))
            del buf[i : j + 1]
    return bytes(buf[:max_size])


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.55:
        out = mutate_structure(data, rng)
        if rng.random() < 0.3:
            out = mutate_structure(out, rng)
    elif atheris is not None:
        out = atheris.Mutate(data, max_size)
    else:
        out = mutate_bytes(data, rng, max_size)
    return out[:max_size]


# ------------------------------------------------------------------------------------------------
# Seeds and drivers
# ------------------------------------------------------------------------------------------------


def write_seeds(folder: Path) -> list[Path]:
    """The valid DNGs of tests/hostile.py, as fuzzing seeds."""
    import hostile

    folder.mkdir(parents=True, exist_ok=True)
    return sorted(hostile.write_valid(folder).values())


def _signature(exc: BaseException) -> str:
    """Exception type and the innermost frame: crashes with the same signature are one bug."""
    tb = traceback.extract_tb(exc.__traceback__)
    last = tb[-1] if tb else None
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno}" if last else type(exc).__name__


def _plain(argv: list[str]) -> int:
    """The mutation loop without coverage feedback: ``--seconds S``, ``--seed N``, ``--artifacts DIR``;
    ``--keep-going`` records each distinct crash (by signature) and goes on instead of stopping."""
    def opt(name: str, default: str) -> str:
        return argv[argv.index(name) + 1] if name in argv else default

    seconds = float(opt("--seconds", "10"))
    rng = random.Random(int(opt("--seed", str(int(time.time())))))
    artifacts = Path(opt("--artifacts", "."))
    with tempfile.TemporaryDirectory(prefix="rotpunkt-fuzz-seeds-") as folder:
        seeds = [p.read_bytes() for p in write_seeds(Path(folder))]
    max_size = max(len(s) for s in seeds) * 2
    keep_going = "--keep-going" in argv
    timeout = int(opt("--timeout", "10"))  # seconds per input, like libFuzzer's -timeout

    class Hang(Exception):
        pass

    def alarm(signum, frame):
        raise Hang(f"an input ran longer than {timeout} s")

    signal.signal(signal.SIGALRM, alarm)
    found: dict[str, Path] = {}
    start = time.monotonic()
    end, runs = start + seconds, 0
    while time.monotonic() < end:
        data = custom_mutator(rng.choice(seeds), max_size, rng.randrange(2**32))
        if rng.random() < 0.5:
            data = custom_mutator(data, max_size, rng.randrange(2**32))
        runs += 1
        signal.alarm(timeout)
        try:
            test_one_input(data)
        except Exception as exc:
            sig = "Hang" if isinstance(exc, Hang) else _signature(exc)
            if sig in found:
                continue
            artifacts.mkdir(parents=True, exist_ok=True)
            crash = artifacts / f"crash-plain-{len(found) + 1}.dng"
            crash.write_bytes(data)
            found[sig] = crash
            traceback.print_exc()
            print(f"crash: {sig}; input written to {crash}", flush=True)
            if not keep_going:
                return 1
        finally:
            signal.alarm(0)
    elapsed = time.monotonic() - start
    crashes = f"{len(found)} distinct crash(es)" if found else "no crash"
    print(f"plain fuzz: {runs} runs in {elapsed:.0f} s ({runs / elapsed:.1f} exec/s), {crashes}", flush=True)
    for sig, crash in found.items():
        print(f"  {sig}: {crash}")
    return 1 if found else 0


def main(argv: list[str]) -> int:
    rotpunkt.limits.set_limits(**FUZZ_LIMITS)
    if atheris is None:
        return _plain(argv)
    corpus = [a for a in argv[1:] if not a.startswith("-")]
    first = Path(corpus[0]) if corpus else None
    if first is not None and not first.is_file() and not (first.is_dir() and any(first.iterdir())):
        write_seeds(first)  # an empty or new corpus folder (a file argument is one input to re-run)
    elif not corpus:  # the default corpus folder, kept between runs (not committed)
        default = ROOT / "fuzz" / "corpus"
        if not (default.is_dir() and any(default.iterdir())):
            write_seeds(default)
        argv = argv + [str(default)]
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
