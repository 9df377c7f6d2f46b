import Foundation
import SlipwayCore
import SlipwayHost
import SlipwayManifest
import SlipwayNotifications
import SlipwayRecords

/// Tells a run's notification channels what happens to it (README, "Notifications"): each
/// event is queued on the engine's `Notifier` and the run goes on at once.
struct Announcer: Sendable {
    let notifier: Notifier
    let channels: [Channel]
    /// The fields every event of this run shares.
    let template: DeploymentEvent

    func callAsFunction(_ kind: EventKind, _ message: String, _ fill: (inout DeploymentEvent) -> Void = { _ in }) {
        guard !channels.isEmpty else { return }
        var event = template
        event.kind = kind
        event.time = Date()
        event.message = message
        fill(&event)
        notifier.send(event, to: channels)
    }

    /// The last event of a run, once its record is committed: what became of it, with the record's path.
    /// A run stopped for a newer one says nothing: that one's `started` follows.
    func outcome(_ record: DeploymentRecord, refused: Bool) {
        let kind: EventKind
        switch record.result {
        case .succeeded: kind = .succeeded
        case .healed: kind = .healed
        case .rolledBack: kind = .rolledBack  // by a trigger, or going back as someone asked (no trigger then)
        case .failed, .interrupted: kind = .failed
        case .superseded, .skipped, .removed: return
        }
        self(refused ? .refused : kind, record.title) { event in
            event.detail = record.reason
            event.record = record.path
            if let rollback = record.rollback {
                event.trigger = rollback.trigger
                event.evidence = rollback.reason + (rollback.thresholds.isEmpty ? "" : " (thresholds: \(rollback.thresholds))")
            }
        }
    }
}

extension PipelineRun {
    /// This run's announcer. A manifest refused under `Trust/` names no channel Slipway may use
    /// (its URLs and commands are anyone's): its events go to the channels of the manifest
    /// that runs, which was accepted when it was deployed, and their commands run as that
    /// manifest says (its working directory and values, never the refused one's). Under
    /// `Trust/` a command from the ops repo's working tree is left out, as for any command.
    func announcer(_ deployment: DeploymentID) async -> Announcer {
        var source = self.manifest
        if case .refused = signature {
            if let running = status?.manifest, let accepted = await repository.manifest(blob: running, path: environment.manifestPath) {
                source = accepted
            } else {
                source.notify = []
            }
        }
        let template = DeploymentEvent(kind: .started, environment: environment, service: self.manifest.service, version: self.manifest.version,
                                       previousVersion: status?.version, deployment: deployment, commit: trigger.id, message: "")
        let runner = gateRunner(deployment: deployment, source: source)
        var open = signature == .open
        if !open, let tip = try? await repository.tip() {
            open = (try? await TrustCheck.isOpen(repository: repository, state: engine.state, at: tip)) ?? false
        }
        var channels: [Channel] = []
        for spec in source.notify + (await sharedChannels()) {
            if !open, case .command(let command) = spec.kind, let what = fromRepository(command, workingDirectory: runner.workingDirectory) {
                engine.logger.warning("notification command not run: it is in the ops repo, whose working tree holds files nobody signed",
                                      metadata: ["env": "\(environment)", "channel": "\(spec.name)", "what": "\(what)"])
                continue
            }
            channels.append(channel(spec, runner: runner, deployment: deployment))
        }
        return Announcer(notifier: engine.notifier, channels: channels, template: template)
    }

    /// `Notifications/all.yaml` at the tip, when this machine accepted it under `Trust/` (it
    /// names where events go and commands to run); one refused or invalid is logged and unused.
    private func sharedChannels() async -> [NotifyChannel] {
        let path = OpsRepository.sharedNotify
        do {
            guard let blob = try await repository.git.blobID(at: path, in: try await repository.tip()) else { return [] }
            if case .refused(let why) = try await trust.acceptance(of: path, blob: blob) {
                engine.logger.warning("notifications for every environment not used", metadata: ["file": "\(path)", "why": "\(why)"])
                return []
            }
            guard let data = try await repository.git.readBlob(blob, maximumBytes: ManifestParser.maximumSize) else {
                throw EngineError("\(path) is larger than \(ManifestParser.maximumSize / 1024) KiB")
            }
            return try ManifestParser.parseNotify(data, path: path)
        } catch {
            engine.logger.warning("notifications for every environment not used", metadata: ["file": "\(path)", "why": "\(ErrorText.sentence(error))"])
            return []
        }
    }

    /// A manifest's channel, its `env:` references resolved now; one that cannot be resolved
    /// fails every delivery with the reason (it is in the record), never with the value.
    private func channel(_ spec: NotifyChannel, runner: GateRunner, deployment: DeploymentID) -> Channel {
        func value(_ reference: SecretReference) throws -> String {
            guard let value = engine.environment[reference.variable], !value.isEmpty else {
                throw DeliveryFailure("\(reference.variable) is not set in Slipway's environment", permanent: true)
            }
            return value
        }
        func resolved(_ make: () throws -> Channel) -> Channel {
            do { return try make() } catch { return Channel(name: spec.name, events: spec.events) { _ in throw error } }
        }
        switch spec.kind {
        case .webhook(let url, let key):
            return resolved { Channel.webhook(name: spec.name, events: spec.events, url: try value(url), key: try key.map(value)) }
        case .slack(let url):
            return resolved { Channel.slack(name: spec.name, events: spec.events, url: try value(url)) }
        case .command(let command):
            let name = spec.name
            let folder = engine.state.environment(environment).appendingPathComponent("gates")
            return Channel(name: name, events: spec.events) { event in
                // The event goes on stdin: written to a file of the state directory, removed after.
                let input = folder.appendingPathComponent("\(deployment)-notify-\(name)-\(event.kind.rawValue).json")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data(Payloads.webhook(event)).write(to: input)
                defer { try? FileManager.default.removeItem(at: input) }
                let result = try await runner.run("notify-\(name)", command, timeout: .seconds(60), extra: ["event": event.kind.rawValue], input: input)
                guard result.passed else { throw DeliveryFailure("\(result.explain(.seconds(60))): \(result.tail.suffix(2).joined(separator: " / "))") }
            }
        }
    }
}
