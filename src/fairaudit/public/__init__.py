"""Transparency reports under differential privacy: :func:`publish` (``AuditResult.to_public``)."""

from fairaudit.public.bounding import in_engine, in_memory
from fairaudit.public.noise import PrivacyError, Release, release, simulate
from fairaudit.public.publication import publish, transparency
from fairaudit.public.statistics import Statistics

__all__ = ["PrivacyError", "Release", "Statistics", "in_engine", "in_memory", "publish", "release", "simulate",
           "transparency"]
