import platform

import pytest

from service.allocator import one_heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_glibc_takes_the_one_heap_setting() -> None:
    assert one_heap()
