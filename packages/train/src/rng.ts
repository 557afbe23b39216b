/** Deterministic randomness (one implementation, in @altclip/backend and @altclip/data), re-exported for the trainer's users. */
export { hashInts, mulberry32, withSeededRandom } from '@altclip/backend';
export { epochPermutation } from '@altclip/data';
