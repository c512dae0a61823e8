"""Set-up checks shared by the CLI and the console: a directory or Identity connection, tested for real."""
