public import Foundation
public import SlipwayCore
public import SlipwayHost
public import SlipwayManifest

/// What this machine lacks to run a manifest: a secret not set in Slipway's environment, a
/// program not installed, an address another program listens on. A problem of the machine, not of the change: the planner holds such
/// an environment (and its lane) before anything changes, nothing is recorded, and it deploys
/// once the machine is fixed (README, "The daemon").
public struct MachineCheck: Sendable {
    public let environment: [String: String]
    public let resolver: ExecutableResolver
    public let state: StateDirectory
    /// Where relative `run.workingDirectory` values start (the ops repo's working tree).
    public let root: URL

    public init(environment: [String: String], resolver: ExecutableResolver, state: StateDirectory, root: URL) {
        (self.environment, self.resolver, self.state, self.root) = (environment, resolver, state, root)
    }

    /// Each problem in one sentence; empty when the manifest can run here.
    public func problems(_ manifest: Manifest, in name: EnvironmentName) -> [String] {
        var found: [String: Bool] = [:]
        return problems(MachineNeeds(manifest), in: name, found: &found)
    }

    /// The problems of many environments, each program looked up once (`listening`: from `PortHolder.listeningPorts()`).
    func problems(of batch: [(name: EnvironmentName, needs: MachineNeeds)], listening: Set<Int>?) -> [(EnvironmentName, [String])] {
        var found: [String: Bool] = [:]
        return batch.map { ($0.name, problems($0.needs, in: $0.name, listening: listening, found: &found)) }
    }

    /// Each problem in one sentence; empty when what a manifest needs is here. `listening`: the
    /// ports something listens on, when known (the others are free); `found`: programs looked up.
    func problems(_ needs: MachineNeeds, in name: EnvironmentName, listening: Set<Int>? = nil, found: inout [String: Bool]) -> [String] {
        var problems: [String] = []
        for (secret, variable) in needs.secrets {
            switch environment[variable] {
            case nil: problems.append("secret \(secret): \(variable) is not set in Slipway's environment")
            case ""?: problems.append("secret \(secret): \(variable) is set but empty in Slipway's environment")
            default: break
            }
        }
        if let program = needs.program {
            // The working directory matters to a path only; a bare name is looked up in PATH.
            let directory = program.contains("/" as Character) && !program.hasPrefix("/") ? workingDirectory(needs.workingDirectory, name) : state.root
            let key = directory.path + "\0" + program
            let present = found[key] ?? (resolver.resolve(program, in: directory) != nil)
            found[key] = present
            if !present {
                problems.append("run.command: \(resolver.problem(with: program, in: directory))")
            }
        }
        return problems + addressesTaken(needs.addresses.filter { listening?.contains($0.address.port) ?? true }, name)
    }

    /// The manifest's addresses that another program listens on. This environment's own HAProxy
    /// holding them is no problem (a reload takes its listeners over): the one its pid file
    /// names, or while that one is being replaced, one started with its configuration. Without a
    /// pid file nothing is ours (a HAProxy left by a deleted state directory names the same
    /// path). A holder this machine cannot see is not held for: the deployment tries, and HAProxy says.
    func addressesTaken(_ addresses: [(key: String, address: ListenAddress)], _ name: EnvironmentName) -> [String] {
        let taken = addresses.filter { PortHolder.isTaken(host: $0.address.host, port: $0.address.port) }
        guard !taken.isEmpty else { return [] }  // the usual case, asked of every environment at every plan
        let front = state.traffic(name, logger: .init(label: "slipway")).processID
        let configuration = state.haproxy(name).path + "/"
        return taken.compactMap { key, address in
            guard !(front.map { PortHolder.holds($0, port: address.port) } ?? false) else { return nil }
            let holders = PortHolder.holders(port: address.port)
            let reloading = front != nil && holders.contains { PortHolder.arguments(of: $0, contain: configuration) }
            guard let foreign = holders.first, !reloading else { return nil }
            return "\(key): \(address) is in use by \(PortHolder.describe(foreign))"
        }
    }

    func workingDirectory(_ directory: String?, _ name: EnvironmentName) -> URL {
        guard let directory else { return state.work(name) }
        return directory.hasPrefix("/") ? URL(fileURLWithPath: directory) : root.appendingPathComponent(directory).standardizedFileURL
    }
}

/// What a manifest needs of the machine that runs it, all `MachineCheck` reads of it (kept by
/// `slipway plan`'s cache in place of the whole manifest).
public struct MachineNeeds: Sendable, Equatable {
    /// Each secret's name and the variable of Slipway's environment it comes from, by name.
    public var secrets: [(name: String, variable: String)]
    /// The program a process target starts (nil for other targets, or one made of placeholders).
    public var program: String?
    public var workingDirectory: String?
    public var addresses: [(key: String, address: ListenAddress)]

    public init(secrets: [(name: String, variable: String)], program: String?, workingDirectory: String?, addresses: [(key: String, address: ListenAddress)]) {
        (self.secrets, self.program, self.workingDirectory, self.addresses) = (secrets, program, workingDirectory, addresses)
    }

    public init(_ manifest: Manifest) {
        let program = manifest.run.command.first.flatMap { manifest.target.kind == .process && !$0.contains("{") ? $0 : nil }
        self.init(secrets: manifest.run.secrets.sorted { $0.key < $1.key }.map { ($0.key, $0.value.variable) }, program: program,
                  workingDirectory: manifest.run.workingDirectory, addresses: manifest.addresses)
    }

    public static func == (a: MachineNeeds, b: MachineNeeds) -> Bool {
        a.secrets.elementsEqual(b.secrets, by: ==) && a.program == b.program && a.workingDirectory == b.workingDirectory
            && a.addresses.elementsEqual(b.addresses, by: ==)
    }
}

extension Engine {
    /// The checks of this machine the planner holds environments by.
    public var machine: MachineCheck {
        MachineCheck(environment: configuration.environment, resolver: configuration.resolver, state: configuration.state,
                     root: repository.git.workingDirectory ?? repository.git.gitDirectory)
    }
}
