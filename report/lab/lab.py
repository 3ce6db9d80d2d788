#!/usr/bin/env python3
"""The four VMs on one laptop: geotracker in a Mininet network, with real NAT.

The original's four servers ran on four cloud VMs, and its clients reached the router over the
Internet. This script builds such a network on one Linux machine with Mininet, with the clients
in two homes, each behind a home router that translates addresses (NAT): every host is a
network namespace with its own interfaces, addresses and routes, running the project's own
programs; the switches are Linux bridges (no Open vSwitch, no controller), each in a namespace
of its own too; each home gateway masquerades its LAN onto the Internet with nftables. The
router's IP table then shows what a real one would: the gateways' public addresses, and the
ports the gateways chose.

    home 1: 192.168.1.0/24                                 the cloud: 198.51.100.0/24
    h1 h2 h3 -- s1 -- gw1 --+                          +-- rtr   198.51.100.10  router
                            +-- s3 -- isp -- s4 -------+-- srv1  198.51.100.11  server
    h4 h5 h6 -- s2 -- gw2 --+                          +-- ...   (srv2..srv4: .12 .. .14)
    home 2: 192.168.2.0/24   the Internet: 203.0.113.0/24 (gw1 .1, gw2 .2, isp .254)

Run it as root with the system Python, after building the programs as yourself
(`cargo build --examples`):

    sudo python3 report/lab/lab.py                        # start it, then the Mininet CLI
    sudo python3 report/lab/lab.py --selftest --out DIR   # the whole scenario, checked

Exit codes: 0 done (with --selftest: every check held); 1 a --selftest check failed; 2 a bad
command line, missing programs, or a network that would not start; 77 it cannot run on this
machine (not Linux, not root, Mininet, nft or conntrack missing), with a line saying how to
install what is missing: 77 is the code test harnesses read as "skipped".
"""

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
INSTALL = "on Debian/Ubuntu: sudo apt-get install mininet nftables conntrack"
CANNOT_RUN = 77
SYSTEM_PYTHON = "/usr/bin/python3"

ROUTER_IP, ROUTER_PORT = "198.51.100.10", 9020
SERVERS = {f"srv{k}": f"198.51.100.1{k}" for k in range(1, 5)}
SERVER_PORT = 12347
ISP = {"homes": "203.0.113.254", "cloud": "198.51.100.254"}
# The servers' NAT pool starts at the original's own public address (their default without
# Internet, given here so that no server asks ipify first): the lab's Internet uses
# documentation addresses, which no database can locate and src/nat.rs translates.
POOL = "117.222.175.180"


def gateway(lan):
    """Home `lan`'s gateway: its address inside, and its public address on the Internet."""
    return f"192.168.{lan}.1", f"203.0.113.{lan}"


# --- the command line and the checks before anything is built -----------------------------


def parse_args():
    p = argparse.ArgumentParser(
        description="geotracker's router and servers on hosts of their own, and clients "
        "behind two home NAT gateways, in a Mininet network.",
        epilog=f"Needs Linux, root and Mininet ({INSTALL}). Exit code 77: cannot run here.",
    )
    p.add_argument("--clients", type=int, default=3, metavar="N",
                   help="client hosts on each home LAN (default 3; 1 to 50)")
    p.add_argument("--hold-secs", type=int, default=1, metavar="N",
                   help="the router's --hold-secs (default 1: enough for clients to spread "
                   "over the four servers; 5 as the original, to watch the queue)")
    p.add_argument("--delay", metavar="TIME",
                   help="one-way delay of each access line to the Internet (both gateways, "
                   "the router's and each server's), e.g. 25ms; needs the kernel's netem")
    p.add_argument("--loss", type=float, metavar="PERCENT",
                   help="packets lost on each access line, each way, e.g. 2; needs netem")
    p.add_argument("--selftest", action="store_true",
                   help="run the scenario unattended, check it, tear down; exit 0 if it held")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where each host's output and the JSON logs go (default: a new "
                   "folder under /tmp)")
    p.add_argument("--check", action="store_true",
                   help="only check that this machine can run the lab: exit 0, or 77 and why not")
    p.add_argument("--script", type=Path, metavar="FILE",
                   help="type the Mininet CLI commands in FILE, one a line, each shown after "
                   "its mininet> prompt, instead of reading the keyboard (for transcripts)")
    p.add_argument("--bin-dir", type=Path, default=REPO / "target" / "debug" / "examples",
                   metavar="DIR", help="where the router, server and client programs are "
                   "(default target/debug/examples, made by `cargo build --examples`)")
    args = p.parse_args()
    if not 1 <= args.clients <= 50:
        p.error("--clients must be 1 to 50")
    if args.selftest and args.clients < 2:
        p.error("--selftest needs --clients 2 or more: four clients at once reach all four servers")
    if args.selftest and args.hold_secs < 1:
        p.error("--selftest needs --hold-secs 1 or more: with 0, the clients crowd onto the "
                "first slots (the semaphore hands out the lowest free one) and some server may "
                "serve nobody")
    if args.hold_secs < 0 or (args.loss is not None and not 0 <= args.loss < 100):
        p.error("--hold-secs must be 0 or more, --loss 0 to 99")
    return args


def cannot_run(why):
    print(f"lab: cannot run here: {why}", file=sys.stderr)
    sys.exit(CANNOT_RUN)


def check_machine(args):
    """Refuses, with exit code 77 and what to do, unless Linux, Mininet, nft, conntrack, root
    (and netem, for --delay and --loss)."""
    if not sys.platform.startswith("linux"):
        cannot_run(f"Mininet needs Linux (network namespaces), and this is {sys.platform}")
    if importlib.util.find_spec("mininet") is None:
        # Debian's mininet package is installed for the system Python; a pyenv or virtualenv
        # python3 earlier in PATH cannot import it, so run again under the system one.
        here = os.path.realpath(sys.executable)
        if os.path.exists(SYSTEM_PYTHON) and here != os.path.realpath(SYSTEM_PYTHON):
            print(f"lab: {sys.executable} has no Mininet; running under {SYSTEM_PYTHON}",
                  file=sys.stderr)
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, *sys.argv])
        cannot_run(f"Mininet is not installed for {SYSTEM_PYTHON}; {INSTALL}")
    for tool, package in [("nft", "nftables"), ("conntrack", "conntrack"), ("ss", "iproute2"),
                          ("mnexec", "mininet")]:
        if shutil.which(tool) is None:
            cannot_run(f"`{tool}` is missing (package {package}); {INSTALL}")
    if os.geteuid() != 0:
        cannot_run("Mininet needs root: run it with sudo (sudo python3 report/lab/lab.py ...)")
    # Mininet's TCLink sets delay and loss with netem; try it in a namespace that goes away.
    probe = ["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
    if (args.delay or args.loss) and subprocess.run(probe, capture_output=True).returncode != 0:
        cannot_run("--delay and --loss need the kernel's netem qdisc, which this kernel does not "
                   "have: try `sudo modprobe sch_netem`, or run without them")


def find_programs(bin_dir):
    """The three example programs, or exit 2 saying how to build them."""
    programs = {name: bin_dir / name for name in ("router", "server", "client")}
    missing = [str(path) for path in programs.values() if not os.access(path, os.X_OK)]
    if missing:
        print(f"lab: error: not found: {', '.join(missing)}\n"
              "     build them first, as yourself: cargo build --examples "
              "(or give --bin-dir DIR)", file=sys.stderr)
        sys.exit(2)
    return SimpleNamespace(**{name: str(path) for name, path in programs.items()})


# --- the network ------------------------------------------------------------------------------


def mininet_api():
    """Mininet's classes (imported once `check_machine` has passed), and the lab's bridge."""
    from mininet.cli import CLI
    from mininet.link import Link, TCLink
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.node import Switch

    class Bridge(Switch):
        """A Linux bridge made with `ip link`, in a namespace of its own: it needs neither
        Open vSwitch nor a controller nor bridge-utils, and it leaves nothing on the machine
        (its namespace, with the bridge and its ports, goes when its shell is killed)."""

        def __init__(self, name, **params):
            Switch.__init__(self, name, **{**params, "inNamespace": True})

        def start(self, _controllers):
            self.cmd("ip link add name", self, "type bridge")
            for intf in self.intfList():
                if intf.name.startswith(f"{self.name}-"):
                    self.cmd("ip link set dev", intf, "master", self, "up")
            self.cmd("ip link set dev", self, "up")

        def stop(self, deleteIntfs=True):
            self.cmd("ip link del dev", self)
            Switch.stop(self, deleteIntfs)

    return SimpleNamespace(CLI=CLI, Link=Link, TCLink=TCLink, Mininet=Mininet, Bridge=Bridge,
                           setLogLevel=setLogLevel)


def client_hosts(args):
    """[(name, lan, address)]: h1..hN on home 1, then the same number on home 2."""
    return [(f"h{(lan - 1) * args.clients + k}", lan, f"192.168.{lan}.{100 + k}")
            for lan in (1, 2) for k in range(1, args.clients + 1)]


def build(api, args):
    """Adds every host, switch and link to a new Mininet network (not started yet)."""
    # Mininet.init() would raise system-wide limits (fs.file-max, socket buffers, ...) with
    # sysctl and never put them back; this small network does not need them.
    api.Mininet.inited = True
    net = api.Mininet(build=False, controller=None, switch=api.Bridge, link=api.Link)
    s1, s2, s3, s4 = (net.addSwitch(f"s{k}") for k in range(1, 5))
    # An access line to the Internet: a gateway's uplink, the router's and each server's link.
    line = {}
    if args.delay or args.loss:
        line = {"cls": api.TCLink, "delay": args.delay, "loss": args.loss}
    for lan, switch in ((1, s1), (2, s2)):
        inside, public = gateway(lan)
        gw = net.addHost(f"gw{lan}", ip=f"{inside}/24", defaultRoute=f"via {ISP['homes']}")
        net.addLink(gw, switch)  # gw-eth0, inside
        net.addLink(gw, s3, params1={"ip": f"{public}/24"}, **line)  # gw-eth1, the Internet
    for name, lan, ip in client_hosts(args):
        host = net.addHost(name, ip=f"{ip}/24", defaultRoute=f"via {gateway(lan)[0]}")
        net.addLink(host, s1 if lan == 1 else s2)
    isp = net.addHost("isp", ip=f"{ISP['homes']}/24")
    net.addLink(isp, s3)
    net.addLink(isp, s4, params1={"ip": f"{ISP['cloud']}/24"})
    for name, ip in {"rtr": ROUTER_IP, **SERVERS}.items():
        host = net.addHost(name, ip=f"{ip}/24", defaultRoute=f"via {ISP['cloud']}")
        net.addLink(host, s4, **line)
    return net


def configure(net, args):
    """Forwarding on the gateways and the ISP, NAT on the gateways."""
    for name in ("gw1", "gw2", "isp"):
        net[name].cmd("sysctl -qw net.ipv4.ip_forward=1")
    for lan in (1, 2):
        gw = net[f"gw{lan}"]
        # The home router's NAT: every connection leaving through the uplink gets the
        # gateway's public address and a port chosen at random (`random`), so that the router
        # sees ports its clients never used; the rules live in gw's namespace only.
        rules = [
            "add table ip home",
            "add chain ip home postrouting { type nat hook postrouting priority srcnat ; }",
            f"add rule ip home postrouting oifname {gw.name}-eth1 masquerade random",
        ]
        for rule in rules:
            said = gw.cmd(f"nft '{rule}'").strip()
            if said:
                raise RuntimeError(f"{gw.name}: nft {rule}: {said}")


# --- the programs on the hosts -----------------------------------------------------------------


class Program:
    """One of the project's programs, running on a host in the output folder, its output in
    `<host>.out` and its process id in `<host>.pid` there."""

    def __init__(self, host, argv, out):
        self.host, self.argv, self.out_file = host, argv, out / f"{host.name}.out"
        with open(self.out_file, "w") as said:
            self.proc = host.popen(argv, stdout=said, stderr=subprocess.STDOUT, cwd=str(out))
        (out / f"{host.name}.pid").write_text(f"{self.proc.pid}\n")

    def command(self):
        """The command line, with the program's name instead of its path."""
        return " ".join([Path(self.argv[0]).name, *self.argv[1:]])

    def stop(self, timeout=15):
        """Ctrl-C (SIGINT), as a person would press it; the exit code, or None if it hung."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def wait_listening(program, port, timeout=15):
    """Waits until the program listens on `port`, as `ss -ltn` on its host shows; a test
    connection would become a row of its IP table."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if program.host.cmd(f"ss -ltnH 'sport = :{port}'").strip():
            return
        if program.proc.poll() is not None:
            break
        time.sleep(0.05)
    said = program.out_file.read_text(errors="replace").strip()
    raise RuntimeError(f"{program.host.name}: {program.command()} is not listening on {port}: "
                       f"{said or 'no output'}")


def server_argv(bins, name):
    """A server's command line on host `name`; its log is `geotracker-server-<name>.json`."""
    return [bins.server, "--bind", "0.0.0.0", "--port", str(SERVER_PORT), "--public-ip", POOL,
            "--log", f"geotracker-server-{name}.json"]


def start_programs(net, bins, args, out):
    """Four servers, then the router, each on its host, each listening before the next."""
    servers = {name: Program(net[name], server_argv(bins, name), out) for name in SERVERS}
    for program in servers.values():
        wait_listening(program, SERVER_PORT)
    server_list = ",".join(f"{ip}:{SERVER_PORT}" for ip in SERVERS.values())
    argv = [bins.router, "--bind", "0.0.0.0", "--port", str(ROUTER_PORT), "--servers",
            server_list, "--hold-secs", str(args.hold_secs), "--log", "geotracker-router.json"]
    router = Program(net["rtr"], argv, out)
    wait_listening(router, ROUTER_PORT)
    return router, servers


def stop_programs(router, servers):
    """Ctrl-C to the router, then to each server still running: each writes its IP table.
    Returns {host: exit code}."""
    codes = {"rtr": router.stop()}
    for name, program in servers.items():
        codes[name] = program.stop()
    return codes


# --- what the gateways and the router recorded ------------------------------------------------


def conntrack(host):
    """The gateway's translations to the router: [(inside (ip, port), outside (ip, port))]."""
    text = host.cmd(f"conntrack -L -p tcp --orig-dst {ROUTER_IP} --orig-port-dst {ROUTER_PORT}")
    rows = []
    for line in text.splitlines():
        fields = re.findall(r"(src|dst|sport|dport)=(\S+)", line)
        if len(fields) == 8:
            orig, reply = dict(fields[:4]), dict(fields[4:])
            rows.append(((orig["src"], int(orig["sport"])),
                         (reply["dst"], int(reply["dport"]))))
    return rows, text


def last_run(log_file):
    """The rows of the last run in a JSON log: [[caller, other], ...]."""
    log = json.loads(log_file.read_text())
    return [row["IP No."] for row in log.get(f"IP-Login-{log['count']}", [])]


def side_by_side(router_rows, translations, hosts):
    """The router's rows next to the gateway translation each came from, as lines."""
    by_public = {public: (gw, inside) for gw, rows in translations.items()
                 for inside, public in rows}
    name_of = {ip: name for name, _, ip in hosts}
    if not router_rows:
        return ["(empty: no client asked)"]
    lines = [f"{'router table: client':<24} {'server':<22} {'gateway':<8} client inside"]
    for (ip, port), server in router_rows:
        gw, inside = by_public.get((ip, port), ("?", None))
        who = f"{inside[0]}:{inside[1]} ({name_of.get(inside[0], '?')})" if inside else "?"
        lines.append(f"{ip + ':' + str(port):<24} {server:<22} {gw:<8} {who}")
    return lines


# --- the selftest -------------------------------------------------------------------------------


def ask_all(net, bins, hosts, out):
    """Every client host asks once, all at the same time; {host: answer as a dict}. What each
    client printed is added to its host's output file."""
    running = [(name, net[name].popen([bins.client, "--router", f"{ROUTER_IP}:{ROUTER_PORT}",
                                       "--json", "--timeout-secs", "20"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
               for name, _, _ in hosts]
    answers = {}
    for name, proc in running:
        said = proc.communicate(timeout=30)[0].decode(errors="replace")
        with open(out / f"{name}.out", "a") as f:
            f.write(said)
        try:
            answers[name] = json.loads(said.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answers[name] = {"status": "no answer", "message": said.strip()}
    return answers


def show_answers(answers, hosts):
    for name, _, ip in hosts:
        a = answers[name]
        served = a.get("router", {})
        place = ", ".join(a[k] for k in ("city", "regionName", "country") if a.get(k))
        print(f"  {name:<4} {ip:<14} {a.get('status', '?'):<8} {a.get('query', ''):<16} "
              f"{place or a.get('message', ''):<28} slot {served.get('slot', '-')} "
              f"({served.get('server', '-')}), queue {served.get('queue_position', '-')}, "
              f"waited {served.get('waited_ms', '-')} ms")


def selftest(net, bins, args, out, router, servers):
    """Two rounds of every client asking, srv4 stopped between them; returns the checks."""
    hosts = client_hosts(args)
    for name, _, _ in hosts:
        (out / f"{name}.out").write_text("")
    print(f"round 1: {len(hosts)} clients ask at once ({args.clients} behind each gateway)")
    first = ask_all(net, bins, hosts, out)
    show_answers(first, hosts)
    srv4_code = servers["srv4"].stop()
    print(f"srv4 stopped with Ctrl-C (exit code {srv4_code}): its slot's clients must go "
          "elsewhere")
    print(f"round 2: the same {len(hosts)} clients ask again")
    second = ask_all(net, bins, hosts, out)
    show_answers(second, hosts)

    translations = {}
    for gw in ("gw1", "gw2"):
        translations[gw], text = conntrack(net[gw])
        (out / f"{gw}-conntrack.txt").write_text(text)
        (out / f"{gw}-nftables.txt").write_text(net[gw].cmd("nft list ruleset"))
    codes = stop_programs(router, servers)
    codes["srv4"] = srv4_code

    router_rows = last_run(out / "geotracker-router.json")
    print("the router's table (geotracker-router.json), beside the gateways' conntrack tables:")
    for line in side_by_side(router_rows, translations, hosts):
        print(f"  {line}")
    served = {name: len(last_run(out / f"geotracker-server-{name}.json")) for name in SERVERS}
    server_callers = {tuple(row[0])[0] for name in SERVERS
                      for row in last_run(out / f"geotracker-server-{name}.json")}
    print(f"the servers' tables: rows {served}; callers {sorted(server_callers)}")

    answers = list(first.values()) + list(second.values())
    publics = {gateway(1)[1], gateway(2)[1]}
    callers = [tuple(caller) for caller, _ in router_rows]
    known = {public: inside for rows in translations.values() for inside, public in rows}
    insides = [known.get(c, (None,))[0] for c in callers]
    srv4 = f"{SERVERS['srv4']}:{SERVER_PORT}"
    rtr_out = router.out_file.read_text(errors="replace")
    return [
        (f"every client located: {sum(a.get('status') == 'success' for a in answers)} of "
         f"{len(answers)} answers are \"success\"",
         all(a.get("status") == "success" for a in answers)),
        (f"the router's table has one row per answer ({len(router_rows)} rows)",
         len(router_rows) == len(answers)),
        (f"the router's table shows only the gateways' public addresses "
         f"{sorted({ip for ip, _ in callers})}",
         {ip for ip, _ in callers} == publics),
        ("each row is one client's connection: no (address, port) twice, and each is in its "
         "gateway's conntrack table, naming a client inside",
         len(set(callers)) == len(callers)
         and sorted(insides) == sorted(ip for _, _, ip in hosts for _round in (1, 2))),
        (f"all four servers served: {served}", all(n > 0 for n in served.values())),
        ("each server saw the router, not a client: callers " + str(sorted(server_callers)),
         server_callers == {ROUTER_IP}),
        (f"the router found srv4 ({srv4}) down and served round 2 without it",
         f"slot 3 ({srv4}) is down" in rtr_out
         and all(a.get("router", {}).get("server") != srv4 for a in second.values())),
        (f"every program exited 0 after Ctrl-C: {codes}",
         all(code == 0 for code in codes.values())),
    ]


# --- what the machine looks like, before and after ------------------------------------------


def machine_state():
    """What the lab must leave as it found it: named namespaces, links, nftables rules."""
    def run(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout

    links = sorted(re.findall(r"^\d+: ([^:@]+)", run("ip", "-o", "link", "show"), re.M))
    return {"ip netns": run("ip", "netns", "list"), "ip link": links,
            "nft list ruleset": run("nft", "list", "ruleset")}


def namespace_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def processes_in(namespaces, except_pids=()):
    """[(pid, command)] of every process in one of these network namespaces."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in except_pids and namespace_of(entry) in namespaces:
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            program, *rest = cmd.decode(errors="replace").split() or ["?"]  # name, not path
            found.append((int(entry), " ".join([Path(program).name, *rest])))
    return found


def tear_down(net, namespaces):
    """Stops whatever still runs on a lab host (programs started from the CLI too), then
    the network: every host and switch shell ends, and its namespace goes with it."""
    shells = {node.pid for node in net.values()}
    for sig, grace in ((signal.SIGINT, 5), (signal.SIGKILL, 2)):
        left = processes_in(namespaces, shells)
        for pid, command in left:
            print(f"lab: {signal.Signals(sig).name} to {pid}, still running: {command}")
        for pid, _ in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = processes_in(namespaces, shells)
    for node in net.values():
        if node.waiting:  # a CLI command was interrupted: its shell has its prompt back now
            node.waitOutput()
    net.stop()


# --- interactive --------------------------------------------------------------------------------


def define_commands(net, bins, args, out):
    """Each host's shell starts in the output folder; `client` on the client hosts, and
    `stop` (Ctrl-C, then wait for the table to be written) and `server` (start it again) on
    the server hosts are shell functions, so that a student types `h1 client`, `srv4 stop`."""
    for node in net.hosts:
        node.cmd(f"cd '{out}'")
    for name, _, _ in client_hosts(args):
        net[name].cmd(f'client() {{ {bins.client} --router {ROUTER_IP}:{ROUTER_PORT} "$@"; }}')
    for name in SERVERS:
        argv = " ".join(server_argv(bins, name))
        net[name].cmd(f"server() {{ {argv} >> {name}.out 2>&1 & echo $! > {name}.pid; }}")
        # Waits until the server has gone, or is a zombie: lab.py reaps the first one only
        # once the CLI returns.
        net[name].cmd(f"stop() {{ local p=$(cat {name}.pid); kill -INT $p || return; "
                      f"while [ -e /proc/$p ] && [ $(cut -d' ' -f3 /proc/$p/stat) != Z ]; "
                      f"do sleep 0.1; done; tail -n 1 {name}.out; }}")


def print_guide(net, args, out, router, servers):
    rows = [(name, ip, f"a student's computer in home {lan}, behind gw{lan}")
            for name, lan, ip in client_hosts(args)]
    rows += [(f"gw{lan}", " / ".join(gateway(lan)),
              f"home {lan}'s router: NAT (nftables masquerade) onto the Internet")
             for lan in (1, 2)]
    rows += [("isp", f"{ISP['homes']} / {ISP['cloud']}", "the Internet: it routes, no NAT")]
    rows += [("rtr", ROUTER_IP, "the machine that ran router.py")]
    rows += [(name, ip, f"server VM {k} of the original's four") for k, (name, ip) in
             enumerate(SERVERS.items(), 1)]
    print("\nthe hosts:")
    for row in rows:
        print("  {:<5} {:<30} {}".format(*row))
    if args.delay or args.loss:
        print(f"\neach access line: delay {args.delay or '0ms'} and loss {args.loss or 0}% each way")
    print(f"\nrtr runs: {router.command()}")
    print(f"srv1..4 run: {servers['srv1'].command().replace('srv1', 'srvN')}")
    print(f"every host's shell is in {out}: <host>.out, <host>.pid, the JSON logs")
    burst = f"{client_hosts(args)[-1][0]} client --clients 8"
    print(f"""
type at the mininet> prompt:
  h1 client                  where am I? (asks {ROUTER_IP}:{ROUTER_PORT})
  h1 client 8.8.8.8          where is 8.8.8.8?
  {burst:<26} eight clients at once: watch the queue
  rtr tail -n 4 rtr.out      the router saw each gateway's address and port, not 192.168.x.y
  gw1 conntrack -L           gw1's translations: inside address and port, and outside
  gw1 nft list ruleset       gw1's NAT rule
  srv4 stop                  stop one server: kill -INT $(cat srv4.pid), as Ctrl-C would,
                             and wait for its table; its slot's clients go elsewhere
  srv4 server                start it again; the router uses it after the back-off (5 s)
  exit                       Ctrl-C to the router and servers (tables written), then tear down
""")


def run_script(api, net, script):
    """Types each line of `script` at the Mininet CLI, showing it after the prompt. Mininet's
    CLI passes what arrives on its standard input to the running command, so commands piped
    into it would be eaten by the first one: here its input is a pipe nobody writes to."""

    class ScriptCLI(api.CLI):
        def onecmd(self, line):
            if line.strip():
                print(f"mininet> {line.rstrip()}", flush=True)
            return api.CLI.onecmd(self, line)

    silent, _keep_open = os.pipe()
    with open(silent) as stdin:
        ScriptCLI(net, stdin=stdin, script=str(script))
    os.close(_keep_open)


def interactive(api, net, bins, args, out, router, servers):
    define_commands(net, bins, args, out)
    print_guide(net, args, out, router, servers)
    if args.script:
        run_script(api, net, args.script)
    else:
        api.CLI(net)
    translations = {gw: conntrack(net[gw])[0] for gw in ("gw1", "gw2")}
    codes = stop_programs(router, servers)
    print(f"stopped with Ctrl-C, exit codes {codes}")
    router_rows = last_run(out / "geotracker-router.json")
    print("the router's table, beside the gateways' conntrack tables:")
    for line in side_by_side(router_rows, translations, client_hosts(args)):
        print(f"  {line}")


# --- main ---------------------------------------------------------------------------------------


def give_to_sudo_user(out):
    """Under sudo, hands the output folder to the person who ran it (logs are owner-only)."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if uid and gid:
        for path in [out, *out.iterdir()]:
            os.chown(path, int(uid), int(gid))


class StoppedBySignal(Exception):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def stopped_by(signum, _frame):
    raise StoppedBySignal(signum)


def main():
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with Mininet's lines (stderr)
    check_machine(args)
    if args.check:
        print("lab: this machine can run the lab")
        return
    bins = find_programs(args.bin_dir)
    out = args.out or Path(tempfile.mkdtemp(prefix="geotracker-lab-"))
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    api = mininet_api()
    api.setLogLevel("output" if not args.selftest else "warning")
    # A kill or a closed terminal still tears the network down (the `finally` below).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stopped_by)

    started = time.monotonic()
    before = machine_state()
    net, namespaces, checks, code = None, set(), [], 0
    try:
        net = build(api, args)
        net.build()
        net.start()
        # Never the machine's own namespace: tear_down stops every process in these.
        namespaces = {namespace_of(node.pid) for node in net.values()} - {namespace_of(1), None}
        configure(net, args)
        router, servers = start_programs(net, bins, args, out)
        print(f"lab: {len(net.hosts)} hosts and {len(net.switches)} bridges up in "
              f"{time.monotonic() - started:.1f} s; output in {out}")
        if args.selftest:
            checks = selftest(net, bins, args, out, router, servers)
        else:
            interactive(api, net, bins, args, out, router, servers)
    except StoppedBySignal as e:
        print(f"lab: stopped by signal {e.signum}; tearing down", file=sys.stderr)
        code = 128 + e.signum
    except KeyboardInterrupt:
        print("lab: stopped by Ctrl-C; tearing down", file=sys.stderr)
        code = 130
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        print(f"lab: error: {e}", file=sys.stderr)
        code = 2
    finally:
        if net is not None:
            tear_down(net, namespaces)
        if out.exists():
            give_to_sudo_user(out)
    after = machine_state()
    left = processes_in(namespaces)
    changed = [what for what in before if before[what] != after[what]]
    print("lab: torn down; `ip netns`, `ip link` and `nft list ruleset` are "
          + (f"NOT as before: {changed}" if changed else "as before"))
    if args.selftest:
        checks.append(("nothing left behind: no lab process or namespace, and `ip netns`, "
                       "`ip link`, `nft list ruleset` as before", not left and not changed))
        for what, held in checks:
            print(f"check: {what}: {'ok' if held else 'FAILED'}")
        passed = code == 0 and all(held for _, held in checks)
        why = "" if code == 0 else " (it stopped at the error above)"
        print(f"lab: selftest {'passed' if passed else 'FAILED'}{why} in "
              f"{time.monotonic() - started:.1f} s; output in {out}")
        code = code or (0 if passed else 1)
    sys.exit(code)


if __name__ == "__main__":
    main()
