//! PyPI on hosted repositories (filled in below).
