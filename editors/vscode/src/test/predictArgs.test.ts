import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argumentsFor, choiceLabel, inputQuestion, parseIteration, predictChoices, predictionChoices, verifyChoice } from '../predictArgs';

const uri = 'file:///w/example.py';

test('only the server\'s predict actions become choices, with their arguments', () => {
  const choices = predictChoices([
    { title: 'Prophecy: predict add(2, 3)', command: { title: 'x', command: 'cwm.predict', arguments: [uri, 4, 'add(2, 3)'] } },
    { title: 'Prophecy: verify with a real run', command: { title: 'y', command: 'cwm.verify', arguments: [uri, 4] } },
    { title: 'Organize imports', command: { title: 'z', command: 'python.sortImports' } },
    { title: 'Prophecy: predict add(0, 0)', command: { title: 'x', command: 'cwm.predict', arguments: [uri, 4, 'add(0, 0)'] } },
  ]);
  assert.deepEqual(choices.map(choiceLabel), ['predict add(2, 3)', 'predict add(0, 0)']);
  assert.deepEqual(choices[1].arguments, [uri, 4, 'add(0, 0)']);
});

test('a bare Command (not a CodeAction) is understood too', () => {
  const choices = predictChoices([{ title: 'Prophecy: predict f()', command: 'cwm.predict', arguments: [uri, 0, 'f()'] }]);
  assert.deepEqual(choices, [{ title: 'Prophecy: predict f()', command: 'cwm.predict', arguments: [uri, 0, 'f()'] }]);
});

test('palette invocations get the cursor as arguments', () => {
  const cursor = { uri, line: 7 };
  assert.deepEqual(argumentsFor('cwm.predict', [], cursor), [uri, 7]);
  assert.deepEqual(argumentsFor('cwm.verify', [], cursor), [uri, 7]);
  assert.deepEqual(argumentsFor('cwm.clear', [], cursor), [uri]);
  assert.deepEqual(argumentsFor('cwm.showIteration', [], cursor, 2), [uri, 7, 2]);
  assert.deepEqual(argumentsFor('cwm.showIteration', [], cursor, null), [uri, 7, null]);
  assert.deepEqual(argumentsFor('cwm.predict', [uri, 1, 'f(1)'], cursor), [uri, 1, 'f(1)']);
  assert.equal(argumentsFor('cwm.predict', [], undefined), undefined);
});

test('invented inputs are offered only when there is no example call', () => {
  const invented = { title: 'Prophecy: predict with invented inputs', command: { title: 'i', command: 'cwm.predict', arguments: [uri, 4, null, true] } };
  const example = { title: 'Prophecy: predict add(2, 3)', command: { title: 'x', command: 'cwm.predict', arguments: [uri, 4, 'add(2, 3)'] } };
  assert.deepEqual(predictionChoices([example, invented]).map(choiceLabel), ['predict add(2, 3)']);
  assert.deepEqual(predictionChoices([invented]).map(choiceLabel), ['predict with invented inputs']);
});

test('verify from the palette uses the server\'s verify action (the call last predicted)', () => {
  const verify = { title: 'Prophecy: verify with a real run (add(0, 0))', command: { title: 'v', command: 'cwm.verify', arguments: [uri, 4, 'add(0, 0)'] } };
  assert.deepEqual(verifyChoice([verify])?.arguments, [uri, 4, 'add(0, 0)']);
  assert.equal(verifyChoice([]), undefined);
});

test('iteration numbers are typed 1-based and sent 0-based; empty means all', () => {
  assert.equal(parseIteration(' 3 '), 2);
  assert.equal(parseIteration(''), null);
  assert.equal(parseIteration('all'), null);
  assert.equal(parseIteration('0'), undefined);
  assert.equal(parseIteration('two'), undefined);
});

test('no example call: ask whether to add one or invent inputs', () => {
  const invent = { title: 'Prophecy: predict with invented inputs', command: { title: 't', command: 'cwm.predict', arguments: ['u', 1, null, true] } };
  const add = { title: 'Prophecy: add an example call' };
  const example = { title: 'Prophecy: predict f(1)', command: { title: 't', command: 'cwm.predict', arguments: ['u', 1, 'f(1)'] } };
  assert.deepEqual(inputQuestion([invent, add]), ['Add an example call', 'Invent inputs']);
  assert.deepEqual(inputQuestion([add]), ['Add an example call']); // the run backend cannot invent
  assert.equal(inputQuestion([example, invent, add]), undefined);
});
