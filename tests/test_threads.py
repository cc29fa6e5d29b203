"""Choosing how many threads the C kernels may use."""

import pytest

from nnplug import threads


@pytest.fixture(autouse=True)
def fresh_setting(monkeypatch):
    monkeypatch.setattr(threads, "_threads", None)


def test_default_is_the_usable_cpus_capped(monkeypatch):
    monkeypatch.delenv(threads.ENV_VARIABLE, raising=False)
    monkeypatch.setattr(threads, "_usable_cpus", lambda: 64)
    assert threads.get_num_threads() == threads.DEFAULT_MAX


def test_environment_variable_sets_it(monkeypatch):
    monkeypatch.setenv(threads.ENV_VARIABLE, " 3 ")
    assert threads.get_num_threads() == 3


@pytest.mark.parametrize("value", ["0", "-2", "two", "257", "99999999999", "1e3", "9" * 5000])
def test_bad_environment_value_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VARIABLE, value)
    with pytest.raises(ValueError, match="NNPLUG_NUM_THREADS must be a whole number from 1 to 256"):
        threads.get_num_threads()


def test_set_num_threads_overrides_and_validates():
    threads.set_num_threads(1)
    assert threads.get_num_threads() == 1
    threads.set_num_threads(threads.MAX_THREADS)
    assert threads.get_num_threads() == threads.MAX_THREADS
    for bad in (0, 257, 2**31, 1.5, True, "2"):
        with pytest.raises(ValueError, match="expected an integer from 1 to 256"):
            threads.set_num_threads(bad)
