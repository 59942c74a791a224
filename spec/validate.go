package spec

// Validate checks what the schema cannot express. It is pure: it reports
// problems and never changes s.
func Validate(s *Spec) ErrorList {
	return nil
}
