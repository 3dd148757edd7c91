package dev.runnel.client;

/** Told each assignment event of a group member, on the thread iterating its {@link Consumer}. */
@FunctionalInterface
public interface AssignmentListener {
  void onAssignment(Assignment assignment);
}
