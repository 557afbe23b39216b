/**
 * @altclip/mpi: collectives for data-parallel training. The TypeScript part always builds; the MPI binding
 * (csrc/, N-API) is built at install only where mpi.h is found, and used only when a launcher started the process.
 */
export { Collective, LocalCollective, NumericBuffer } from './collective';
export { DEFAULT_TIMEOUT_S, MPI_HINT, MpiCollective, launcherRank, loadMpiAddon, mpiLauncher, mpiUnavailableReason, worldCollective } from './mpi';
