public import Foundation

/// Instances on another machine, reached through `SSHClient`: started detached (their own
/// session, surviving the connection and the controller), registered on the host itself (one
/// `instances/<id>.instance` file each: pid, start time, port), listed back and stopped from
/// there. Needs only `sh`, `setsid` and `/proc` on the host. Every script is fixed text: what
/// varies reaches it as positional arguments, and the environment (secrets included) on stdin,
/// never as an argument that `ps` would show.
public struct RemoteInstances: Sendable {
    public let ssh: SSHClient
    public let destination: SSHDestination
    /// The environment's folder on the host (relative to the login's home unless absolute).
    public let directory: String
    public var timeout: Duration = .seconds(60)

    public init(ssh: SSHClient, destination: SSHDestination, directory: String) {
        (self.ssh, self.destination, self.directory) = (ssh, destination, directory)
    }

    public init(ssh: SSHClient, host: RemoteHost) { self.init(ssh: ssh, destination: host.destination, directory: host.directory) }

    /// An instance as the host's registry lists it.
    public struct Listed: Sendable, Hashable {
        public let id: String
        public let pid: Int32
        public let startTime: UInt64
        public let port: Int
        /// Whether that process (same pid, same start time) still runs.
        public let running: Bool
    }

    /// Exit status of the start script when the port asked for is taken on the host.
    static let portTaken: Int32 = 75

    /// Starts an instance on a port free on the host, chosen at random among `ports` and tried
    /// again when it is taken; `launch` gives the argv and environment for a port. It runs in
    /// `directory`, its output in `directory/logs/<id>.log`.
    public func start(id: String, ports: ClosedRange<Int> = 20_000...32_000,
                      launch: (Int) -> (arguments: [String], environment: [String: String])) async throws -> Listed {
        guard Self.isName(id) else { throw LaunchError("instance id \(id) is not a plain name") }
        for _ in 0..<8 {
            let port = Int.random(in: ports)
            let (arguments, environment) = launch(port)
            let result = try await ssh.run(destination, ["sh", "-c", Self.startScript, "sh", directory, id, "\(port)"] + arguments,
                                           input: try Self.environmentFile(environment), timeout: timeout)
            if result.status == Self.portTaken { continue }
            guard result.status == 0, let line = result.text.split(whereSeparator: \.isNewline).last,
                  let listed = Self.parse(line: "\(id) \(line) \(port) running") else {
                throw LaunchError("starting \(id) on \(destination.host) failed: \(Self.sentence(result))")
            }
            return listed
        }
        throw LaunchError("starting \(id) on \(destination.host) failed: no free port found in 8 tries")
    }

    /// The last `count` lines the instance printed (its log on the host).
    public func tail(id: String, count: Int) async throws -> [String] {
        guard Self.isName(id) else { throw LaunchError("instance id \(id) is not a plain name") }
        let result = try await ssh.run(destination, ["tail", "-n", "\(count)", "--", "\(directory)/logs/\(id).log"], timeout: timeout)
        guard result.status == 0 else { throw LaunchError("reading the log of \(id) on \(destination.host) failed: \(Self.sentence(result))") }
        return result.text.split(whereSeparator: \.isNewline).suffix(count).map { String($0.prefix(500)) }  // what a host prints is bounded here
    }

    /// The instances the host's registry holds, running or not.
    public func list() async throws -> [Listed] {
        let result = try await ssh.run(destination, ["sh", "-c", Self.listScript, "sh", directory], timeout: timeout)
        guard result.status == 0 else { throw LaunchError("listing instances on \(destination.host) failed: \(Self.sentence(result))") }
        return result.text.split(whereSeparator: \.isNewline).compactMap { Self.parse(line: String($0)) }
    }

    /// What each of `instances` (id and process, as this machine registered them) uses now,
    /// by id: one look at the host's `/proc`, added up here as on this machine. The host's own
    /// registry is not asked: an instance could rewrite it to point at another process.
    public func usage(of instances: [String: ProcessIdentity]) async throws -> [String: ResourceSample] {
        guard !instances.isEmpty else { return [:] }
        let pids = Set(instances.values.map(\.pid)).filter { $0 > 1 }.map { "\($0)" }
        let result = try await ssh.run(destination, ["sh", "-c", Self.usageScript, "sh"] + pids, timeout: timeout)
        guard result.status == 0 else { throw LaunchError("reading resource usage on \(destination.host) failed: \(Self.sentence(result))") }
        return Self.usage(fromOutput: result.text, of: instances)
    }

    /// The usage script's lines: `T ticks page` first, then `P fds <stat line>` per process of
    /// the sessions asked for. Anything else (and any later `T`) is ignored.
    static func usage(fromOutput text: String, of instances: [String: ProcessIdentity]) -> [String: ResourceSample] {
        var clock: (ticks: Double, page: Int)?, stats: [ProcessStat] = [], files: [Int32: Int] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3 else { continue }
            if parts[0] == "T", clock == nil, let ticks = Double(parts[1]), let page = Int(parts[2]) {
                clock = (ticks, page)
            } else if parts[0] == "P", clock != nil, let count = Int(parts[1]), let stat = ProcessStat(line: parts[2]) {
                stats.append(stat)
                files[stat.pid] = count
            }
        }
        guard let clock else { return [:] }
        let totals = ResourceSampler.totals(stats, openFiles: files, leaders: Array(instances.values), ticksPerSecond: clock.ticks, pageSize: clock.page)
        return instances.compactMapValues { totals[$0] }
    }

    /// SIGTERM to the instance's process group, SIGKILL after `grace`; forgets it on the host.
    public func stop(id: String, grace: Duration) async throws {
        guard Self.isName(id) else { throw LaunchError("instance id \(id) is not a plain name") }
        let tenths = max(1, Int(grace.components.seconds) * 10 + Int(grace.components.attoseconds / 100_000_000_000_000_000))
        let result = try await ssh.run(destination, ["sh", "-c", Self.stopScript, "sh", directory, id, "\(tenths)", "\(Self.keptLogs)"], timeout: timeout + grace)
        guard result.status == 0 else { throw LaunchError("stopping \(id) on \(destination.host) failed: \(Self.sentence(result))") }
    }

    /// Puts an artifact in place on the host, `<directory>/artifacts/<sha256>` (mode 755), unless
    /// it is there already with that content; the host checks what arrived before it is kept.
    /// Returns whether it was copied.
    public func place(artifact file: URL, sha256: String) async throws -> Bool {
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw LaunchError("\(sha256) is not a sha256")
        }
        let check = try await ssh.run(destination, ["sh", "-c", Self.artifactScript, "sh", directory, sha256, "check"], timeout: timeout)
        if check.status == 0 { return false }
        guard check.status == Self.missing else { throw LaunchError("checking the artifact on \(destination.host) failed: \(Self.sentence(check))") }
        let copy = try await ssh.run(destination, ["sh", "-c", Self.artifactScript, "sh", directory, sha256, "copy"], inputFile: file, timeout: .seconds(600))
        guard copy.status == 0 else { throw LaunchError("copying the artifact to \(destination.host) failed: \(Self.sentence(copy))") }
        return true
    }

    /// Exit status of the artifact script's check when the file is not there as named.
    static let missing: Int32 = 3

    /// `NAME='value'` lines for the start script to read; names are checked, values quoted.
    static func environmentFile(_ environment: [String: String]) throws -> Data {
        var lines: [String] = []
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            guard let first = name.utf8.first, !(48...57).contains(first),
                  name.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 95 }) else {
                throw LaunchError("environment variable name \(name) is not plain")
            }
            lines.append("\(name)=\(RemoteShell.quote(value))")
        }
        return Data((lines.joined(separator: "\n") + "\n").utf8)
    }

    /// `id pid start port running|exited`.
    static func parse(line: String) -> Listed? {
        let fields = line.split(separator: " ")
        guard fields.count == 5, isName(String(fields[0])), let pid = Int32(fields[1]), let start = UInt64(fields[2]),
              let port = Int(fields[3]), ["running", "exited"].contains(fields[4]) else { return nil }
        return Listed(id: String(fields[0]), pid: pid, startTime: start, port: port, running: fields[4] == "running")
    }

    static func isName(_ text: String) -> Bool {
        (1...80).contains(text.utf8.count) && text.utf8.first != 45
            && text.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    private static func sentence(_ result: (status: Int32?, text: String)) -> String {
        let text = result.text.split(whereSeparator: \.isNewline).suffix(3).map { $0.prefix(300) }.joined(separator: "; ")  // a host's words are bounded
        return result.status.map { "exit \($0)" + (text.isEmpty ? "" : ": \(text)") } ?? "no answer in time"
    }

    /// The start time of `$1` from /proc (field 22 of stat, counted after the command name,
    /// which may hold spaces); empty when it does not run.
    private static let startTimeOf = #"started() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }"#

    /// $1 folder, $2 id, $3 port, then the argv. Exit 75: the port is taken.
    static let startScript = startTimeOf + "\n" + #"""
        dir=$1 id=$2 port=$3; shift 3
        hex=$(printf '%04X' "$port")
        if cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -Eq ":$hex [0-9A-F]+:[0-9A-F]{4} 0A "; then exit 75; fi
        mkdir -p "$dir/instances" "$dir/logs" || exit 1
        umask 077
        cat > "$dir/instances/$id.env" || exit 1
        ( cd "$dir" || exit 1; set -a; . "instances/$id.env"; set +a; rm -f "instances/$id.env"; exec setsid "$@" ) > "$dir/logs/$id.log" 2>&1 < /dev/null &
        pid=$!
        start=$(started "$pid")
        [ -n "$start" ] || { echo "$id exited at once" >&2; exit 1; }
        printf '%s %s %s\n' "$pid" "$start" "$port" > "$dir/instances/$id.instance"
        printf '%s %s\n' "$pid" "$start"
        """#

    /// $1 folder: one line per registered instance.
    static let listScript = startTimeOf + "\n" + #"""
        for file in "$1"/instances/*.instance; do
          [ -e "$file" ] || continue
          id=${file##*/}; id=${id%.instance}
          read pid start port < "$file"
          if [ "$(started "$pid")" = "$start" ]; then state=running; else state=exited; fi
          printf '%s %s %s %s %s\n' "$id" "$pid" "$start" "$port" "$state"
        done
        """#

    /// The session leaders' pids as arguments: the clock and page size, then every process of
    /// their sessions (field 6 of stat, counted after the command name) with its open files.
    static let usageScript = #"""
        printf 'T %s %s\n' "$(getconf CLK_TCK)" "$(getconf PAGESIZE)"
        [ "$#" -gt 0 ] || exit 0
        cat /proc/[0-9]*/stat 2>/dev/null | LC_ALL=C awk -v want="$*" '
          BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) s[w[i]] = 1 }
          { rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " "); if (f[4] in s) print }' |
        while IFS= read -r line; do
          set -- /proc/"${line%% *}"/fd/*
          if [ -e "$1" ]; then n=$#; else n=0; fi
          printf 'P %s %s\n' "$n" "$line"
        done
        """#

    /// $1 folder, $2 sha256, $3 `check` (exit 3: not there as named) or `copy` (stdin; exit 4:
    /// what arrived has another sha256, and is not kept).
    static let artifactScript = #"""
        file="$1/artifacts/$2" part="$1/artifacts/.$2.$$"
        sum() { sha256sum < "$1" | cut -d' ' -f1; }
        if [ "$3" = check ]; then
          if [ -x "$file" ] && [ "$(sum "$file")" = "$2" ]; then exit 0; fi
          exit 3
        fi
        mkdir -p "$1/artifacts" || exit 1
        cat > "$part" || { rm -f "$part"; exit 1; }
        got=$(sum "$part")
        if [ "$got" != "$2" ]; then rm -f "$part"; echo "what arrived has sha256 $got, not $2"; exit 4; fi
        chmod 755 "$part" && mv -f "$part" "$file"
        """#

    /// Logs a host keeps of instances it no longer registers: the newest, and any written in the
    /// last hour (enough for `slipway logs --instance` after a failed run; not one per instance
    /// ever started). The same rule as this machine's (`StateDirectory.pruneLogs`).
    public static let keptLogs = 16

    /// $1 folder, $2 id, $3 tenths of a second between SIGTERM and SIGKILL, $4 logs kept
    /// (`keptLogs`): every stop prunes the host's logs.
    static let stopScript = startTimeOf + "\n" + #"""
        file="$1/instances/$2.instance"
        if [ -e "$file" ]; then
          read pid start port < "$file"
          alive() { [ "$(started "$pid")" = "$start" ]; }
          # Its whole process group ("-pid": dash takes no "--" there), and never pid 1 or below.
          if [ "$pid" -gt 1 ] && alive; then kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid"; fi
          i=0
          while [ "$pid" -gt 1 ] && alive && [ "$i" -lt "$3" ]; do sleep 0.1; i=$((i + 1)); done
          if [ "$pid" -gt 1 ] && alive; then kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
          rm -f "$file" "$1/instances/$2.env"
        fi
        n=0
        ls -t "$1/logs" 2>/dev/null | while IFS= read -r log; do
          case $log in *.log) ;; *) continue ;; esac
          [ -e "$1/instances/${log%.log}.instance" ] && continue
          n=$((n + 1))
          [ "$n" -gt "$4" ] && find "$1/logs/$log" -maxdepth 0 -type f -mmin +60 -delete
        done
        exit 0
        """#
}
