import Foundation

/// The drop-in that `bgsync schedule --systemd` writes for `bgsync@NAME.timer`:
/// `bgsync@NAME.timer.d/bgsync-schedule.conf`, resetting the template's `OnUnitActiveSec=`
/// and setting the job's interval (the counterpart of `enqueueUniquePeriodicWork(…, UPDATE)`).
package struct SystemdDropIn: Sendable, Equatable {
    /// The job name (the timer's instance, used verbatim: `%i` in the service is the job
    /// name, and job names hold only characters unit names allow).
    package var instance: String
    /// The interval in seconds.
    package var interval: Int
    /// Delay after boot before the first run.
    package var onBoot: Int

    package init(instance: String, interval: Int, onBoot: Int = 300) {
        self.instance = instance
        self.interval = interval
        self.onBoot = onBoot
    }

    /// `bgsync@NAME.timer`.
    package var timerUnit: String { "bgsync@\(instance).timer" }
    /// `bgsync@NAME.timer.d`.
    package var directoryName: String { timerUnit + ".d" }
    /// The drop-in's file name.
    package static let fileName = "bgsync-schedule.conf"
    /// Its path under a unit directory.
    package func path(in unitDirectory: String) -> String {
        unitDirectory + "/" + directoryName + "/" + Self.fileName
    }

    /// The file's text.
    package var text: String {
        """
        # Written by `bgsync schedule \(instance) --every \(DurationText.format(Double(interval)))`; removed by
        # `bgsync unschedule \(instance)`. Edits are overwritten by the next `bgsync schedule`.
        [Timer]
        OnBootSec=
        OnBootSec=\(DurationText.format(Double(onBoot)))
        OnUnitActiveSec=
        OnUnitActiveSec=\(DurationText.format(Double(interval)))

        """
    }
}
