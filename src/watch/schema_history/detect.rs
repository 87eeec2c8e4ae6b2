//! Finding migration tools' version tables in a watched database's catalog.
