import CALSA
import KinevoxCapture

/// Tells a capture device name that ALSA does not know at all (a typo: refused at start) from one that is
/// defined but cannot be opened now (no card, unplugged: retried while the daemon runs). Main thread.
enum CaptureDeviceCheck {
    /// nil when `source` is a file or an ALSA PCM whose type ALSA's configuration defines (`default`,
    /// `hw:…`, `plughw:…`, names from asound.conf), whether or not the card exists; otherwise the reason.
    static func problem(with source: CaptureSource) -> String? {
        guard case .device(let name) = source else { return nil }
        guard snd_config_update() >= 0, let configuration = snd_config else {
            return nil
        }
        let base = name.split(separator: ":", maxSplits: 1).first.map(String.init) ?? name
        // A literal look-up of `pcm.BASE` in the configuration tree: evaluating the definition would also
        // fail for known names whose card is missing ("default" on a machine without a sound card).
        var node: OpaquePointer?
        if snd_config_search(configuration, "pcm.\(base)", &node) >= 0 { return nil }
        return "ALSA knows no PCM named \"\(base)\" (list devices with `kinevox devices` or `arecord -L`)"
    }
}
