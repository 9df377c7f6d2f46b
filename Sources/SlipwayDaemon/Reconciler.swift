import Foundation
import CSlipwaySystem
public import Logging
public import ServiceLifecycle
public import SlipwayEngine

/// The reconcile loop: on every trigger, when the branch moved, one `apply` pass. Slipway's own
/// record commits move the branch too; the pass that follows finds nothing to do (the manifests
/// did not change) and starts no pipeline. On SIGTERM the pass in progress finishes first.
public struct Reconciler: Service {
    let engine: Engine
    let triggers: Triggers
    let inFlight: InFlight
    /// Remote mode: fetch before a pass, push after it.
    let remote: RemoteSync?
    let logger: Logger

    public init(engine: Engine, triggers: Triggers, inFlight: InFlight, remote: RemoteSync? = nil, logger: Logger) {
        self.engine = engine
        self.triggers = triggers
        self.inFlight = inFlight
        self.remote = remote
        self.logger = logger
    }

    public func run() async throws {
        var handled: String?
        triggers.fire("start")
        for await reason in triggers.stream.cancelOnGracefulShutdown() {
            if let remote {
                do { try await remote.pull() } catch { logger.warning("fetch failed", metadata: ["error": "\(error)"]) }
            }
            if let tip = try? await engine.repository.tip().hex, tip != handled {
                handled = tip
                await pass(tip: tip, trigger: reason)
            }
            await Self.push(remote, logger)
        }
    }

    private func pass(tip: String, trigger: String) async {
        logger.info("reconcile", metadata: ["trigger": "\(trigger)", "commit": "\(tip.prefix(7))"])
        do {
            let (plan, outcomes) = try await engine.apply(holdsLock: true, recordRejections: true)
            for diagnostic in plan.invalid {
                logger.error("invalid manifest: not deployed", metadata: ["diagnostic": "\(diagnostic)"])
            }
            for outcome in outcomes {
                guard let record = outcome.record else { continue }
                logger.notice("deployment", metadata: [
                    "env": "\(record.environment)", "deployment": "\(record.deployment)",
                    "result": "\(record.result.rawValue)", "version": "\(record.version)",
                ])
            }
        } catch {
            logger.error("reconcile failed", metadata: ["error": "\(error)"])
        }
        inFlight.clear()
        // Hand the memory a pass freed back to the system: a daemon spends most of its life at rest.
        _ = slipway_malloc_trim()
    }

    private static func push(_ remote: RemoteSync?, _ logger: Logger) async {
        guard let remote else { return }
        do { try await remote.push() } catch { logger.warning("push failed", metadata: ["error": "\(error)"]) }
    }
}
