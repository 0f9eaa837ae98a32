import Foundation
import KinevoxEngine

/// What one utterance was understood as: the most likely supported action, the confidence that it asked for a
/// supported action at all (1 − P(not a command)), and whether that confidence reaches the model's threshold.
public struct Understanding: Equatable, Sendable {
    /// The most likely supported action (one of `UnderstandingHead.actions`), also when not understood.
    public let action: String
    /// 1 − P(not a command), in [0, 1].
    public let confidence: Float
    /// `confidence >= threshold`: only understood utterances get a motion.
    public let understood: Bool

    public init(action: String, confidence: Float, understood: Bool) {
        self.action = action
        self.confidence = confidence
        self.understood = understood
    }
}

/// The "understood?" head (PyTorch twin: `kinevox_train.models.understanding.UnderstandingHead`): one Linear over
/// the generator's condition (its K tokens flattened) → logits for each supported action and a last one for "not a command".
/// Weights `understanding_head.proj.{weight,bias}`; metadata `kinevox.understanding`
/// (`{"actions":[…],"threshold":t}`). Read-only after loading.
public final class UnderstandingHead {
    /// The metadata key of the head's actions and threshold.
    public static let metadataKey = "kinevox.understanding"
    /// The supported actions, in logit order (the "not a command" logit follows them).
    public let actions: [String]
    /// Confidence at or above which an utterance counts as understood.
    public let threshold: Float
    private let proj: Linear

    private struct Metadata: Decodable {
        let actions: [String]
        let threshold: Float
    }

    /// Binds the head when the file's metadata has `kinevox.understanding`; nil for a model without one.
    public static func bindIfPresent(_ store: WeightStore, conditionFloats: Int) throws -> UnderstandingHead? {
        guard let text = store.metadata[metadataKey] else { return nil }
        let meta: Metadata
        do {
            meta = try JSONDecoder().decode(Metadata.self, from: Data(text.utf8))
        } catch {
            throw MotionError("\(store.path): the \(metadataKey) metadata is not {\"actions\":[…],\"threshold\":t}: \(error)")
        }
        guard !meta.actions.isEmpty, Set(meta.actions).count == meta.actions.count else {
            throw MotionError("\(store.path): \(metadataKey) needs a non-empty list of distinct actions")
        }
        guard (0...1).contains(meta.threshold) else {
            throw MotionError("\(store.path): \(metadataKey) threshold \(meta.threshold) is not in [0, 1]")
        }
        let proj = try Linear(store.scope("understanding_head").scope("proj"), inFeatures: conditionFloats,
                              outFeatures: meta.actions.count + 1)
        try store.scope("understanding_head").finish()
        return UnderstandingHead(actions: meta.actions, threshold: meta.threshold, proj: proj)
    }

    private init(actions: [String], threshold: Float, proj: Linear) {
        self.actions = actions
        self.threshold = threshold
        self.proj = proj
    }

    /// The verdict for one condition (its K tokens × dim floats, read as one row). Allocation-free apart from the arena.
    public func understand(_ condition: TensorView, arena: ScratchArena) -> Understanding {
        precondition(condition.count == proj.inFeatures, "UnderstandingHead: condition of \(condition.count) floats")
        let probabilities = proj.forward(TensorView(data: condition.data, shape: Shape(1, proj.inFeatures)), arena: arena)
        softmaxRows(probabilities.data, rows: 1, columns: proj.outFeatures)
        var best = 0
        for i in 1..<actions.count where probabilities.data[i] > probabilities.data[best] { best = i }
        let confidence = 1 - probabilities.data[actions.count]  // the last column is "not a command"
        return Understanding(action: actions[best], confidence: confidence, understood: confidence >= threshold)
    }
}
