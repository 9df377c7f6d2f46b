import Testing
@testable import SlipwayDaemon
import SlipwayCore

/// The crash-loop decision, on a clock the test moves (a fake clock: waiting ten real minutes is not a test).
@Suite("Heal history: what counts towards a crash loop")
struct HealHistoryTests {
    let production: EnvironmentName = "production"
    let manifest = ObjectID(hex: String(repeating: "a", count: 40))!
    let release = ObjectID(hex: String(repeating: "b", count: 40))!

    @Test("short-lived exits back off (0, 1 s, 2 s) and the fourth within ten minutes is a crash loop; a new release starts afresh")
    func crashLoop() {
        var history = HealHistory()
        let start = ContinuousClock.now
        let delays = (0..<3).map { history.decide(production, manifest: manifest, counts: true, now: start + .seconds($0)).delay }
        #expect(delays == [Duration.zero, .seconds(1), .seconds(2)])
        #expect(history.decide(production, manifest: manifest, counts: true, now: start + .seconds(4)).giveUp?.hasPrefix("crash loop: healed 3 times") == true)
        #expect(history.decide(production, manifest: release, counts: true, now: start + .seconds(5)).giveUp == nil)
    }

    @Test("kills of settled instances and of HAProxy count for nothing: healed at once however often; failed heals count")
    func settledKillsDoNotCount() {
        var history = HealHistory()
        let start = ContinuousClock.now
        for second in 0..<20 {
            let decision = history.decide(production, manifest: manifest, counts: false, now: start + .seconds(second * 20))
            #expect(decision.delay == .zero && decision.giveUp == nil)
        }
        let later = start + .seconds(400)
        history.failed(production, manifest: manifest, now: later)
        #expect(history.decide(production, manifest: manifest, counts: false, now: later + .seconds(1)).delay == .seconds(1), "after a failed heal, even a settled drift backs off")
        for second in 1..<3 { history.failed(production, manifest: manifest, now: later + .seconds(second)) }
        #expect(history.decide(production, manifest: manifest, counts: false, now: later + .seconds(4)).giveUp != nil,
                "three failed heals of a stopped HAProxy (its address taken, say), then the verdict: no commit storm")
        #expect(history.decide(production, manifest: manifest, counts: true, now: later + .seconds(700)).giveUp == nil, "ten minutes later they are forgotten")
    }
}
