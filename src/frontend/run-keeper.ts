/**
 * What a flight (Flight, HttpFlight) does when its last client here leaves a run that may feed other instances: it
 * asks whether they read the feed (the tap's remoteReaders) and keeps the run going for them, or cuts it. The run goes
 * on while the store is asked; one question at a time, and the answer counts only if the flight is still alone and
 * running when it comes (a client may have joined, the run may have ended).
 */
export class RunKeeper {
  /** The run goes on for other instances' readers: no client here leaving stops it any more. */
  kept = false;
  private asking = false;

  lastClientLeft(tap: { remoteReaders?(): Promise<boolean> } | null, stillAlone: () => boolean, cut: () => void): void {
    if (this.kept || this.asking) return;
    if (!tap?.remoteReaders) {
      cut();
      return;
    }
    this.asking = true;
    void tap.remoteReaders().then((read) => {
      this.asking = false;
      if (!stillAlone()) return;
      if (read) this.kept = true;
      else cut();
    });
  }
}
