package redirecturi

import "testing"

func TestValidate(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://vscode.dev/redirect", true},
		{"http://127.0.0.1:33418/", true},
		{"http://localhost/callback", true},
		{"http://[::1]:9/cb", true},
		{"com.example.app:/oauth", true},
		{"http://app.example/cb", false},
		{"https://app.example/cb#frag", false},
		{"https://user:pw@app.example/cb", false},
		{"javascript:alert(1)", false},
		{"data:text/html,x", false},
		{"file:///etc/passwd", false},
		{"myapp:/cb", false},
		{"/relative", false},
		{"https:///nohost", false},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			if err := Validate(tc.uri); (err == nil) != tc.ok {
				t.Errorf("Validate(%q) = %v, want ok=%v", tc.uri, err, tc.ok)
			}
		})
	}
}

func TestLoopbackMatch(t *testing.T) {
	tests := []struct {
		registered, requested string
		want                  bool
	}{
		{"http://localhost/callback", "http://localhost:49733/callback", true},
		{"http://127.0.0.1:33418/", "http://127.0.0.1:50712/", true},
		{"http://[::1]/cb", "http://[::1]:8080/cb", true},
		{"http://localhost/callback", "http://127.0.0.1:1/callback", false},
		{"http://localhost/callback", "http://localhost:1/other", false},
		{"http://localhost/cb?a=1", "http://localhost:1/cb?a=2", false},
		{"http://localhost/cb", "https://localhost:1/cb", false},
		{"https://app.example/cb", "https://app.example:444/cb", false},
		{"http://localhost/cb", "http://localhost:1/cb#x", false},
	}
	for _, tc := range tests {
		if got := LoopbackMatch(tc.registered, tc.requested); got != tc.want {
			t.Errorf("LoopbackMatch(%q, %q) = %v, want %v", tc.registered, tc.requested, got, tc.want)
		}
	}
}
