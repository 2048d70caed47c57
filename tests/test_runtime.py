"""runtime.steady_heap: image-sized buffers keep their own mappings after one has been freed (glibc)."""

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
from condgan.runtime import steady_heap

class Info(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(n, ctypes.c_size_t) for n in names.split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "steady":
    assert steady_heap()
size = 4 << 20
libc.free(libc.malloc(size))  # glibc's default: freeing a mapped block raises the threshold past its size
before = libc.mallinfo2().hblkhd
block = libc.malloc(size)
print(libc.mallinfo2().hblkhd - before >= size)
libc.free(block)
"""


def mapped_after_free(mode: str, env: dict | None = None) -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env)
    return out.stdout.strip() == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_steady_heap_keeps_large_blocks_mapped():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert not mapped_after_free("default", env)  # the creep it prevents: the second block comes from the arena
    assert mapped_after_free("steady", env)


def test_steady_heap_leaves_a_users_threshold_alone():
    from condgan.runtime import steady_heap

    assert steady_heap(environ={"MALLOC_MMAP_THRESHOLD_": "65536"}) is False
