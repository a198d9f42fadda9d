// Package ftp stores bundles on an FTP server, or an FTPS server with
// explicit TLS (AUTH TLS), using github.com/jlaffaye/ftp.
//
// Data connections are passive: EPSV first, PASV when the server refuses
// it. Uploads go to .NAME.imgx-part, resume with REST+STOR and are published
// with RNFR/RNTO. Downloads resume with REST+RETR.
//
// Credentials come from ~/.netrc (machine, login, password), else from
// [Options.Login] (the imgx command line fills it from $IMGX_FTP_USER and
// $IMGX_FTP_PASSWORD), else the login is anonymous.
// Passwords are never taken from the URL, where other users see them.
//
// FTP has no way to ask whether written bytes arrived, so
// [transport.Upload.Checkpoint] ends the running transfer (the server
// confirms it with 226) and the next write starts another one at the
// offset reached. Errors are classified by reply code: 4xx is worth a
// retry, 5xx is not (452 and 552, a full disk, are permanent too).
package ftp
