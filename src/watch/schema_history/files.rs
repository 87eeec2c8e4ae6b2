//! A project folder's migration files: pending ones, changed ones (checksums), vanished ones.
