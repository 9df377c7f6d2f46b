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
        var problems: [String] = []
        for (secret, reference) in manifest.run.secrets.sorted(by: { $0.key < $1.key }) {
            switch environment[reference.variable] {
            case nil: problems.append("secret \(secret): \(reference.variable) is not set in Slipway's environment")
            case ""?: problems.append("secret \(secret): \(reference.variable) is set but empty in Slipway's environment")
            default: break
            }
        }
        if manifest.target.kind == .process, let program = manifest.run.command.first, !program.contains("{") {
            // The working directory matters to a path only; a bare name is looked up in PATH.
            let directory = program.contains("/") ? workingDirectory(manifest, name) : state.root
            if resolver.resolve(program, in: directory) == nil {
                problems.append("run.command: \(resolver.problem(with: program, in: directory))")
            }
        }
        return problems + addressesTaken(manifest, name)
    }

    /// The manifest's addresses that another program listens on. This environment's own HAProxy
    /// holding them is no problem (a reload takes its listeners over): the one its pid file
    /// names, or while that one is being replaced, one started with its configuration. Without a
    /// pid file nothing is ours (a HAProxy left by a deleted state directory names the same
    /// path). A holder this machine cannot see is not held for: the deployment tries, and HAProxy says.
    func addressesTaken(_ manifest: Manifest, _ name: EnvironmentName) -> [String] {
        let taken = manifest.addresses.filter { PortHolder.isTaken(host: $0.address.host, port: $0.address.port) }
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

    func workingDirectory(_ manifest: Manifest, _ name: EnvironmentName) -> URL {
        guard let directory = manifest.run.workingDirectory else { return state.work(name) }
        return directory.hasPrefix("/") ? URL(fileURLWithPath: directory) : root.appendingPathComponent(directory).standardizedFileURL
    }
}

extension Engine {
    /// The checks of this machine the planner holds environments by.
    public var machine: MachineCheck {
        MachineCheck(environment: configuration.environment, resolver: configuration.resolver, state: configuration.state,
                     root: repository.git.workingDirectory ?? repository.git.gitDirectory)
    }
}
