package httpsrv

// must is v, for a constructor whose error a test does not expect.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
