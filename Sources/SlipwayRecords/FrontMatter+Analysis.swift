import Foundation
import SlipwayCore

/// A record's analysis in its front matter: a row per canary step or rolling batch, and the
/// resource figures (each step's, and post-deploy's `resources`).
extension FrontMatter {
    static func analysis(_ step: StepAnalysis) -> String {
        func metrics(_ metrics: Metrics) -> String {
            YAMLText.flowMapping([("requests", "\(metrics.requests)"), ("errors", "\(metrics.errors)"),
                                  ("errorRate", number(metrics.errorRate)), ("ms", "\(metrics.responseMilliseconds)")])
        }
        var pairs = [("step", YAMLText.scalar(step.step)), ("weight", "\(step.weight)"), ("ms", "\(step.milliseconds)"),
                     ("windows", "\(step.windows)"), ("inconclusive", "\(step.inconclusiveWindows)"), ("canary", metrics(step.canary))]
        if let baseline = step.baseline { pairs.append(("baseline", metrics(baseline))) }
        pairs += [("decision", YAMLText.scalar(step.decision.rawValue)), ("reason", YAMLText.scalar(step.reason))]
        if let resources = step.resources { pairs.append(("resources", Self.resources(resources))) }
        return YAMLText.flowMapping(pairs)
    }

    static func parseAnalysis(_ step: Fields) -> StepAnalysis {
        func metrics(_ key: String) -> Metrics? {
            step.nested(key).map { Metrics(requests: $0.int("requests") ?? 0, errors: $0.int("errors") ?? 0,
                                           errorRate: Double($0.string("errorRate") ?? "") ?? 0, responseMilliseconds: $0.int("ms") ?? 0) }
        }
        return StepAnalysis(step: step.string("step") ?? "", weight: step.int("weight") ?? 0, milliseconds: step.int("ms") ?? 0,
                            windows: step.int("windows") ?? 0, inconclusiveWindows: step.int("inconclusive") ?? 0,
                            canary: metrics("canary") ?? Metrics(requests: 0, errors: 0, errorRate: 0, responseMilliseconds: 0),
                            baseline: metrics("baseline"), decision: step.string("decision").flatMap(StepDecision.init(rawValue:)) ?? .rolledBack, reason: step.string("reason") ?? "",
                            resources: parseResources(step.nested("resources")))
    }

    /// `{new: {instances, cpu, cpuPerRequest, rssMiB, maxRssMiB, files}, previous: {…}, verdict}`.
    /// Every plain record carries these, so they are kept short: memory in MiB to one decimal,
    /// the largest instance's only when it is 1 MiB or more above the mean, no verdict when there
    /// was no rule to judge by (`recorded`).
    static func resources(_ comparison: ResourceComparison) -> String {
        func mib(_ bytes: Int) -> String { number((Double(bytes) / 104_857.6).rounded() / 10) }
        func figures(_ figures: ResourceFigures) -> String {
            var pairs = [("instances", "\(figures.instances)"), ("cpu", number(figures.cpuPercent))]
            if let perRequest = figures.cpuPerRequest { pairs.append(("cpuPerRequest", number(perRequest))) }
            pairs.append(("rssMiB", mib(figures.residentBytes)))
            if figures.maxResidentBytes - figures.residentBytes >= 1 << 20 { pairs.append(("maxRssMiB", mib(figures.maxResidentBytes))) }
            pairs.append(("files", "\(figures.openFiles)"))
            return YAMLText.flowMapping(pairs)
        }
        var pairs: [(String, String)] = []
        if let new = comparison.new { pairs.append(("new", figures(new))) }
        if let previous = comparison.previous { pairs.append(("previous", figures(previous))) }
        return YAMLText.flowMapping(pairs + (comparison.verdict == "recorded" ? [] : [("verdict", YAMLText.scalar(comparison.verdict))]))
    }

    private static func bytes(_ fields: Fields, _ key: String) -> Int {
        Int(((Double(fields.string(key) ?? "") ?? 0) * 1_048_576).rounded())
    }

    static func parseResources(_ fields: Fields?) -> ResourceComparison? {
        guard let fields else { return nil }
        func figures(_ key: String) -> ResourceFigures? {
            fields.nested(key).map { ResourceFigures(instances: $0.int("instances") ?? 0, cpuPercent: Double($0.string("cpu") ?? "") ?? 0,
                                                     cpuPerRequest: $0.string("cpuPerRequest").flatMap(Double.init), residentBytes: Self.bytes($0, "rssMiB"),
                                                     maxResidentBytes: Self.bytes($0, $0.string("maxRssMiB") == nil ? "rssMiB" : "maxRssMiB"), openFiles: $0.int("files") ?? 0, seconds: 0) }
        }
        return ResourceComparison(new: figures("new"), previous: figures("previous"), verdict: fields.string("verdict") ?? "recorded")
    }
}
