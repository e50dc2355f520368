//! Team mode unit tests.
