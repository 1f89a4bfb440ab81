package guestlab

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// agent talks to qemu-guest-agent in a guest over the unix socket of its
// virtio-serial port (QMP-style JSON, one command at a time).
type agent struct {
	socket string
	conn   net.Conn
	r      *bufio.Reader
	syncID int
}

// ExecResult is what a command run in the guest returned.
type ExecResult struct {
	ExitCode       int
	Stdout, Stderr string
}

func (a *agent) close() {
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

// connect (re)opens the socket and synchronises with the agent, dropping
// any stale replies; it fails while the agent is not up yet.
func (a *agent) connect(ctx context.Context) error {
	a.close()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", a.socket)
	if err != nil {
		return err
	}
	a.conn, a.r = conn, bufio.NewReader(conn)
	a.syncID++
	id := a.syncID + int(time.Now().UnixNano()%1000000)*1000
	if err := a.send(map[string]any{"execute": "guest-sync", "arguments": map[string]any{"id": id}}, 5*time.Second); err != nil {
		a.close()
		return err
	}
	for {
		var resp struct {
			Return *int `json:"return"`
		}
		if err := a.recv(&resp, 5*time.Second); err != nil {
			a.close()
			return err
		}
		if resp.Return != nil && *resp.Return == id {
			return nil
		}
	}
}

func (a *agent) send(cmd any, timeout time.Duration) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	a.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err = a.conn.Write(append(b, '\n'))
	return err
}

func (a *agent) recv(v any, timeout time.Duration) error {
	a.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		line, err := a.r.ReadBytes('\n')
		if err != nil {
			return err
		}
		// guest-sync-delimited and agent restarts can leave 0xff bytes.
		for len(line) > 0 && line[0] == 0xff {
			line = line[1:]
		}
		if len(line) <= 1 {
			continue
		}
		var e struct {
			Error *struct {
				Desc string `json:"desc"`
			} `json:"error"`
		}
		if json.Unmarshal(line, &e) == nil && e.Error != nil {
			return fmt.Errorf("guest agent: %s", e.Error.Desc)
		}
		return json.Unmarshal(line, v)
	}
}

// call runs one agent command, connecting first if needed.
func (a *agent) call(ctx context.Context, cmd string, args, result any) error {
	if a.conn == nil {
		if err := a.connect(ctx); err != nil {
			return fmt.Errorf("guest agent not reachable: %w", err)
		}
	}
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	if err := a.send(req, 10*time.Second); err != nil {
		a.close()
		return err
	}
	var resp struct {
		Return json.RawMessage `json:"return"`
	}
	if err := a.recv(&resp, 60*time.Second); err != nil {
		a.close()
		return err
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(resp.Return, result)
}

// Exec runs the shell script in the guest and waits for it to end.
func (a *agent) Exec(ctx context.Context, script string) (ExecResult, error) {
	var started struct {
		PID int `json:"pid"`
	}
	err := a.call(ctx, "guest-exec", map[string]any{
		"path": "/bin/sh", "arg": []string{"-c", script}, "capture-output": true,
	}, &started)
	if err != nil {
		return ExecResult{}, err
	}
	for {
		var st struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			Signal   int    `json:"signal"`
			Out      string `json:"out-data"`
			Err      string `json:"err-data"`
		}
		if err := a.call(ctx, "guest-exec-status", map[string]any{"pid": started.PID}, &st); err != nil {
			return ExecResult{}, err
		}
		if st.Exited {
			out, _ := base64.StdEncoding.DecodeString(st.Out)
			errOut, _ := base64.StdEncoding.DecodeString(st.Err)
			code := st.ExitCode
			if st.Signal != 0 {
				code = 128 + st.Signal
			}
			return ExecResult{ExitCode: code, Stdout: string(out), Stderr: string(errOut)}, nil
		}
		select {
		case <-ctx.Done():
			return ExecResult{}, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}
