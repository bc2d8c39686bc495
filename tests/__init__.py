"""Tests of the rag package and its web chat."""
