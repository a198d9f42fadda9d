package verify

// PasswordFunc returns the password for a private key. A nil result is
// treated as the empty password. The library never asks on a terminal or
// reads the environment: the caller decides where passwords come from (the
// imgx command line reads $IMGX_PASSWORD, else prompts on the terminal, and
// returns [ErrNoPassword] without either).
type PasswordFunc func() ([]byte, error)

// StaticPassword returns pw every time.
func StaticPassword(pw []byte) PasswordFunc {
	return func() ([]byte, error) { return pw, nil }
}
