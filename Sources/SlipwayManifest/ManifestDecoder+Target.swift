import SlipwayCore

extension ManifestDecoder {
    static let sshKeys = ["kind", "hosts", "user", "port", "bootLimit", "bootWait", "minHealthyHosts", "stateDirectory"]

    /// The target's kind, and for `ssh` its machines (`Manifest.fleet`).
    func target(_ top: Fields) -> (TargetSpec, SSHFleet?) {
        guard let target = reader.section(top, "target", allowed: Self.sshKeys) else { return (TargetSpec(kind: .process), nil) }
        guard let text = reader.string(target, "kind") else { return (TargetSpec(kind: .process), nil) }
        guard let kind = TargetSpec.Kind(rawValue: text) else {
            let kinds = TargetSpec.Kind.allCases.map(\.rawValue)
            reader.report(target["kind"], "target.kind must be one of \(kinds.joined(separator: ", "))\(Spelling.hint(for: text, among: kinds))")
            return (TargetSpec(kind: .process), nil)
        }
        guard kind == .ssh else {
            for key in Self.sshKeys.dropFirst() where target[key] != nil {
                reader.report(target[key], "target.\(key) is for kind: ssh only")
            }
            return (TargetSpec(kind: kind), nil)
        }
        return (TargetSpec(kind: .ssh), fleet(target))
    }

    /// The `ssh` target's fields. Host and user names are checked so that none can be read as
    /// an option by `ssh` (a leading `-`) or reach a shell.
    func fleet(_ target: Fields) -> SSHFleet? {
        let groups = hostGroups(target)
        let user = reader.string(target, "user", rule: "a login name: letters, digits, '_', '-' and '.', not starting with '-'",
                                 isValid: Rules.isLogin)
        let share = { (key: String, fallback: Share) -> Share in
            guard let text = reader.string(target, key) else { return fallback }
            guard let share = Share(text: text) else {
                reader.report(target[key], "target.\(key) must be a number of hosts (2) or a percentage of them (25%)")
                return fallback
            }
            return share
        }
        let directory = reader.string(target, "stateDirectory", rule: "a path without '..'", isValid: Rules.isSafeDirectory) ?? ".slipway"
        guard let groups else { return nil }
        let port = target["port"] == nil ? nil : reader.int(target, "port", default: 22, range: 1...65535)
        return SSHFleet(groups: groups, user: user, port: port, bootLimit: share("bootLimit", .count(1)),
                        bootWait: reader.span(target, "bootWait", default: .init(milliseconds: 0), minimum: .init(milliseconds: 0)),
                        minHealthyHosts: share("minHealthyHosts", .percent(100)), stateDirectory: directory)
    }

    /// `hosts: [a, b]` (one group, `all`) or `hosts: { eu: [a, b], us: [c] }`; each host once, 256 at most.
    func hostGroups(_ target: Fields) -> [HostGroup]? {
        guard let node = target["hosts"] else {
            reader.report(target.node, "target.hosts must list the machines of an ssh target")
            return nil
        }
        var groups: [HostGroup] = []
        if node.sequence != nil {
            groups = [HostGroup(name: "all", hosts: reader.stringList(target, "hosts") ?? [])]
        } else if let mapping = node.mapping {
            for (key, value) in mapping {
                guard let name = key.scalar?.string, Rules.isName(name), let items = value.sequence?.compactMap({ $0.scalar?.string }),
                      items.count == value.sequence?.count else {
                    reader.report(value, "target.hosts must map group names to lists of hosts")
                    return nil
                }
                groups.append(HostGroup(name: name, hosts: items))
            }
        } else {
            reader.report(node, "target.hosts must be a list of hosts, or a mapping of group names to lists of hosts")
            return nil
        }
        let hosts = groups.flatMap(\.hosts)
        if let bad = hosts.first(where: { !Rules.isHost($0) }) {
            reader.report(node, "target.hosts: \"\(bad.clipped)\" is not a host name or IPv4 address (letters, digits, '.', '-', not starting with '-')")
            return nil
        }
        if let twice = hosts.first(where: { host in hosts.filter { $0 == host }.count > 1 }) {
            reader.report(node, "target.hosts names \(twice) twice")
            return nil
        }
        guard (1...256).contains(hosts.count) else {
            reader.report(node, "target.hosts must name between 1 and 256 hosts")
            return nil
        }
        return groups
    }
}
