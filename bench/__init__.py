"""The benchmark suite: ``python -m bench`` (see docs/benchmarks.md).

Each module measures one thing against real daemon processes on a real
ZooKeeper, set up and torn down by :mod:`bench.harness`; a bench reports
figures and whether targets were met, it never fails on a missed target.
"""
