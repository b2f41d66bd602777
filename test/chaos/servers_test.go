package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// --- RabbitMQ ---------------------------------------------------------------

// queueStat is one line of rabbitmqctl list_queues: messages counts ready
// and unacknowledged ones.
type queueStat struct{ messages, consumers int }

// listQueues asks rabbitmqctl for every queue of a vhost.
func listQueues(vhost string) (map[string]queueStat, error) {
	out, err := exec.Command("rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages", "consumers").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("rabbitmqctl list_queues: %v\n%s", err, out)
	}
	m := map[string]queueStat{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) != 3 {
			continue
		}
		msgs, err1 := strconv.Atoi(f[1])
		cons, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue // the header line
		}
		m[f[0]] = queueStat{messages: msgs, consumers: cons}
	}
	return m, nil
}

func rabbitctl(args ...string) error {
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// queueConsumers is the consumer count of a queue, by a passive declare;
// -1 when RabbitMQ does not answer (during its outage).
func queueConsumers(vhost, name string) int {
	conn, err := amqp.DialConfig("amqp://guest:guest@127.0.0.1:5672/", amqp.Config{Vhost: vhost, Dial: amqp.DefaultDial(2 * time.Second)})
	if err != nil {
		return -1
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return -1
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err != nil {
		return -1
	}
	return q.Consumers
}

// --- ClickHouse -------------------------------------------------------------

// chPort is the native port chQuery uses: the shared server's, or a
// cluster replica's while the cluster scenarios run (they run one at a
// time).
var chPort = "9000"

// chQuery runs one statement with clickhouse-client and returns its output,
// trimmed. stdin, when not nil, is the data of an INSERT … FORMAT.
func chQuery(ctx context.Context, sql string, stdin io.Reader) (string, error) {
	cmd := exec.CommandContext(ctx, "clickhouse-client", "--host", "127.0.0.1", "--port", chPort, "-q", sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("clickhouse-client %q: %v: %s", sql, err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func chInt(ctx context.Context, sql string) (int64, error) {
	out, err := chQuery(ctx, sql, nil)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: not a number: %q", sql, out)
	}
	return n, nil
}

// clickHousePID is the process listening on 127.0.0.1:9000, checked to be
// clickhouse-server: the one server the suite stops, by its pid. It reads
// /proc (the listening socket's inode, then the process holding it), so it
// needs no tool beyond the kernel.
func clickHousePID() (int, error) {
	inode, err := listenInode("0100007F:2328") // 127.0.0.1:9000
	if err != nil {
		return 0, err
	}
	target := "socket:[" + inode + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && link == target {
				comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if err != nil {
					return 0, err
				}
				if c := strings.TrimSpace(string(comm)); c != "clickhouse-serv" {
					return 0, fmt.Errorf("127.0.0.1:9000 is held by %q (pid %d), not clickhouse-server", c, pid)
				}
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds the socket listening on 127.0.0.1:9000 (inode %s)", inode)
}

// listenInode is the inode of the TCP socket listening on local (in
// /proc/net/tcp's hex form).
func listenInode(local string) (string, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 10 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
			return f[9], nil
		}
	}
	return "", fmt.Errorf("nothing listens on 127.0.0.1:9000")
}

// stopClickHouse stops the ClickHouse server the way `pkill -x
// clickhouse-serv` does (SIGTERM), but aimed at the pid serving port 9000,
// and waits until the process is gone (SIGKILL after 30 s).
func stopClickHouse() error {
	pid, err := clickHousePID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM clickhouse-server %d: %w", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // it would not stop; the wait below says if this failed too
			for range 100 {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("clickhouse-server %d still runs 40 s after SIGTERM", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ensureClickHouse starts ClickHouse if it is not running and waits until
// it answers (scripts/ensure-clickhouse.sh).
func ensureClickHouse() error {
	out, err := exec.Command(filepath.Join(repoRoot(), "scripts", "ensure-clickhouse.sh")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ensure-clickhouse.sh: %v\n%s", err, out)
	}
	return nil
}
