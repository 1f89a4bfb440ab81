package guestlab

import (
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// Check is one thing that must hold inside a guest. The lab runs Script
// there through the guest agent until it exits 0 (a pass) or the
// workload's time is up; exit status 2 is a definite failure, not worth
// waiting for. The script's output explains a failure.
type Check struct {
	Name string
	// Role limits the check to the guests of one role; "" is every guest.
	Role   string
	Script string
	// Milestone, when set, records when the check first passed, under
	// this name, for the timing report.
	Milestone string
}

// Milestones of every guest, in report order.
const (
	MilestoneBoot      = "boot"            // the guest agent answers
	MilestoneCloudInit = "cloud-init done" // cloud-init finished without errors
	MilestoneLoad      = "load visible"    // the workload's load process runs
	MilestoneFigures   = "first figures"   // the exporter serves a good run's figures
)

// workloadChecks are what each built-in workload must show beyond the
// checks every guest gets (cloud-init, units, data disks; see
// guestChecks). One entry per fact; a new fact (say, an exporter's
// figures changing between two scrapes) is one more entry.
var workloadChecks = map[string][]Check{
	"cpu": append([]Check{
		{Name: "stress-ng runs", Script: `pgrep -x stress-ng >/dev/null || { echo "no stress-ng process"; exit 1; }`, Milestone: MilestoneLoad},
	}, figures("cpu", "")...),
	"memory": append([]Check{
		{Name: "stress-ng runs", Script: `pgrep -x stress-ng >/dev/null || { echo "no stress-ng process"; exit 1; }`, Milestone: MilestoneLoad},
	}, figures("memory", "")...),
	"disk": append([]Check{
		{Name: "fio runs", Script: `pgrep -x fio >/dev/null || { echo "no fio process"; exit 1; }`, Milestone: MilestoneLoad},
	}, figures("disk", "")...),
	"database": append([]Check{
		{Name: "PostgreSQL answers with the pgbench tables", Script: `n=$(runuser -u postgres -- psql -d pgbench -tAc 'SELECT count(*) FROM pgbench_accounts' 2>&1) || { echo "$n"; exit 1; }
[ "$n" -gt 0 ] || { echo "pgbench_accounts holds $n rows"; exit 1; }
dir=$(runuser -u postgres -- psql -tAc 'SHOW data_directory')
[ "$(findmnt -n -o SOURCE --target "$dir")" = "$(readlink -f /dev/disk/by-id/virtio-pgdata)" ] || { echo "data directory $dir is not on the pgdata disk"; exit 2; }
echo "pgbench_accounts: $n rows, data in $dir"`},
		// pgbench -i (initialisation) does not count: the load is the
		// benchmark run with its clients.
		{Name: "pgbench runs", Script: `pgrep -f '^/usr/bin/pgbench -c ' >/dev/null || pgrep -af pgbench | grep -q -- ' -c ' || { echo "no pgbench run:"; pgrep -af pgbench; exit 1; }`, Milestone: MilestoneLoad},
	}, figures("database", "")...),
	"network": append([]Check{
		{Name: "iperf3 server listens", Role: "server", Script: `ss -Hltn 'sport = :5201' | grep -q . || { echo "nothing listens on 5201"; exit 1; }`},
		{Name: "iperf3 client runs", Role: "client", Script: `pgrep -x iperf3 >/dev/null || { echo "no iperf3 process"; exit 1; }`},
		// --bidir: the server's interface both receives and sends.
		{Name: "iperf3 moves traffic both ways", Role: "server", Script: `s=/sys/class/net/lab0/statistics
rx=$(cat $s/rx_bytes); tx=$(cat $s/tx_bytes); sleep 5
drx=$(( $(cat $s/rx_bytes) - rx )); dtx=$(( $(cat $s/tx_bytes) - tx ))
echo "in 5 s: received $drx bytes, sent $dtx bytes"
[ $drx -gt 1000000 ] && [ $dtx -gt 1000000 ]`, Milestone: MilestoneLoad},
		// The client runs iperf3 through virtwork-run; the server's
		// exporter has guest figures only.
	}, figures("network", "client")...),
}

// scrape writes to $f.new the lines of the guest exporter's :9100/metrics
// that carry workload $W's own figures (not the guest's or the exporter's).
const scrape = `python3 - "$W" >$f.new <<'PY' || exit 1
import sys, urllib.request
w = 'workload="%s"' % sys.argv[1]
body = urllib.request.urlopen("http://127.0.0.1:9100/metrics", timeout=30).read().decode()
for line in body.splitlines():
    if line.startswith("virtwork_") and not line.startswith(("virtwork_guest_", "virtwork_exporter_")) and w in line:
        print(line)
PY
`

// figures are the checks of the results a workload's role reports: the
// exporter on :9100 serves the figures of a good run, and they change
// from one scrape to a later one (the load goes on and is measured).
func figures(workload, role string) []Check {
	vars := "W=" + workload + "\nf=/run/guestlab-figures-" + workload + "\n"
	return []Check{
		{Name: "the exporter serves the workload's figures", Role: role, Milestone: MilestoneFigures, Script: vars + scrape + `grep -Eq '^virtwork_workload_last_run_success\{[^}]*\} 1(\.0)?( |$)' $f.new || { echo "no good run reported yet:"; cat $f.new; exit 1; }
mv $f.new $f
echo "$(grep -c . $f) lines, e.g. $(grep -v '^virtwork_workload_' $f | head -n 1)"`},
		{Name: "the figures change between two scrapes", Role: role, Script: vars + scrape + `if cmp -s $f $f.new; then echo "unchanged since the first scrape"; exit 1; fi
diff $f $f.new | grep '^>' | head -n 2`},
	}
}

// cloudInitCheck passes once cloud-init has finished its last stage with
// no errors (result.json is written then, with the errors of every
// stage); finished with errors is a definite failure. Plain shell: the
// python of `cloud-init status` crawls in a guest whose load takes every
// CPU (`cloud-init status --long` is in the failure report).
var cloudInitCheck = Check{Name: "cloud-init done without errors", Milestone: MilestoneCloudInit, Script: `r=/run/cloud-init/result.json
[ -f $r ] || { echo "cloud-init has not finished"; exit 1; }
tr -d ' \n' < $r | grep -q '"errors":\[\]' || { cat $r; exit 2; }`}

// guestChecks are the checks of one guest: cloud-init, each unit its user
// data writes active, each data disk mounted from its by-id link, then
// the workload's own.
func guestChecks(g *Guest) ([]Check, error) {
	var ud struct {
		WriteFiles []struct {
			Path string `yaml:"path"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(g.UserData, &ud); err != nil {
		return nil, fmt.Errorf("%s: reading its user data: %w", g.Name, err)
	}
	checks := []Check{cloudInitCheck}
	for _, f := range ud.WriteFiles {
		if path.Dir(f.Path) == "/etc/systemd/system" && strings.HasSuffix(f.Path, ".service") {
			unit := path.Base(f.Path)
			checks = append(checks, Check{Name: unit + " active", Script: fmt.Sprintf(
				`systemctl is-active --quiet %[1]s || { systemctl status --no-pager %[1]s | tail -n 15; exit 1; }`, unit)})
		}
	}
	for _, d := range g.Disks {
		checks = append(checks, Check{Name: "data disk " + d.Name + " mounted", Script: fmt.Sprintf(
			`dev=$(readlink -f /dev/disk/by-id/virtio-%[1]s) || { echo "no /dev/disk/by-id/virtio-%[1]s"; exit 1; }
findmnt -rn -o TARGET,FSTYPE -S "$dev" || { echo "$dev (virtio-%[1]s) is not mounted"; exit 1; }`, d.Name)})
	}
	for _, c := range workloadChecks[g.Workload] {
		if c.Role == "" || c.Role == g.Role {
			checks = append(checks, c)
		}
	}
	return checks, nil
}

// Packages lists the packages the guests' user data installs, which the
// lab's image must hold already (its guests have no network).
func Packages(ws []Workload) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, w := range ws {
		for _, g := range w.Guests {
			var ud struct {
				Packages []string `yaml:"packages"`
			}
			if err := yaml.Unmarshal(g.UserData, &ud); err != nil {
				return nil, fmt.Errorf("%s: reading its user data: %w", g.Name, err)
			}
			for _, p := range ud.Packages {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
}
